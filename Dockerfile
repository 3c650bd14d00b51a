# Switchboard: one static binary on a distroless base, run as non-root.
# docker build -t switchboard . && docker run --network host switchboard
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /switchboard ./cmd/switchboard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /switchboard /switchboard
USER nonroot:nonroot
EXPOSE 8080/tcp 3478/udp 3478/tcp
ENTRYPOINT ["/switchboard"]
