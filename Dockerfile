# Switchboard: one static binary on a distroless base, run as non-root.
# docker build -t switchboard . && docker run --network host switchboard
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -version says what was built: pass --build-arg VERSION=v1.2.3 (and
# COMMIT, BUILD_DATE); without them scripts/ldflags.sh asks git when the
# context has .git, and the clock. -buildvcs=false: a worktree's .git is
# a file pointing outside the context.
ARG VERSION=""
ARG COMMIT=""
ARG BUILD_DATE=""
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w $(sh scripts/ldflags.sh)" \
    -o /switchboard ./cmd/switchboard

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /switchboard /switchboard
USER nonroot:nonroot
EXPOSE 8080/tcp 3478/udp 3478/tcp
ENTRYPOINT ["/switchboard"]
