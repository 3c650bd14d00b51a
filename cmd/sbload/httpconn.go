package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// httpConn is one keep-alive HTTP/1.1 connection that this tool drives by
// hand: requests are written from prebuilt bytes and responses read with
// http.ReadResponse. That keeps the client cheap (no Transport and its two
// goroutines per connection) and makes the connection the tool's to cut,
// which the resume scenario needs. One request at a time.
type httpConn struct {
	nc   net.Conn
	br   *bufio.Reader
	host string
	req  []byte // reused request buffer
	// done: the last answer said Connection: close, as the server's
	// answer to a poll it parked does; the next request needs a new
	// connection.
	done bool
}

// httpReadBuffer is enough for a response head and a few events; event
// streams read through a buffer of their own.
const httpReadBuffer = 4096

// dialHTTP connects to the host of u (http only: the tool runs on
// loopback).
func dialHTTP(ctx context.Context, u *url.URL) (*httpConn, error) {
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%w: %s: only http:// is supported for sse and poll", errConfig, u)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	return &httpConn{nc: nc, br: bufio.NewReaderSize(nc, httpReadBuffer), host: u.Host}, nil
}

// start writes one request: target is the path and query, token (when set)
// goes in an Authorization header, a non-nil body is sent as JSON.
func (c *httpConn) start(method, target, token string, body []byte) error {
	b := append(c.req[:0], method...)
	b = append(b, ' ')
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\n"...)
	if token != "" {
		b = append(b, "Authorization: Bearer "...)
		b = append(b, token...)
		b = append(b, "\r\n"...)
	}
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	c.req = b
	_, err := c.nc.Write(b)
	return err
}

// response reads the next response head; its body must be read to the
// end (or the connection closed) before the next request.
func (c *httpConn) response(method string) (*http.Response, error) {
	return http.ReadResponse(c.br, &http.Request{Method: method})
}

// roundTrip sends a request and reads its whole answer into buf.
func (c *httpConn) roundTrip(method, target, token string, body, buf []byte) (status int, answer []byte, err error) {
	if err := c.start(method, target, token, body); err != nil {
		return 0, buf, err
	}
	resp, err := c.response(method)
	if err != nil {
		return 0, buf, err
	}
	answer, err = readAll(resp.Body, buf[:0])
	resp.Body.Close()
	c.done = resp.Close
	return resp.StatusCode, answer, err
}

// readAll appends everything r holds to buf.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// setDeadline bounds everything the connection does until it is cleared
// with the zero time.
func (c *httpConn) setDeadline(t time.Time) { _ = c.nc.SetDeadline(t) }

func (c *httpConn) close() error { return c.nc.Close() }

// sendResult checks the answer of POST /v1/send: an array holding a null
// per accepted message. It returns the first error code in it.
// A refusal of the whole request (429 over the byte budget, 413) with an
// error body is a *sendError too.
func sendResult(status int, answer []byte) error {
	i := bytes.Index(answer, []byte(`"code":"`))
	if status != http.StatusOK && i < 0 {
		return fmt.Errorf("%w: POST /v1/send: %d %.200s", errServer, status, answer)
	}
	if i >= 0 {
		code := answer[i+8:]
		if j := bytes.IndexByte(code, '"'); j >= 0 {
			code = code[:j]
		}
		return &sendError{code: string(code), answer: answer}
	}
	return nil
}

// sendError is a message refused in a POST /v1/send answer.
type sendError struct {
	code   string
	answer []byte
}

func (e *sendError) Error() string {
	return fmt.Sprintf("%s: POST /v1/send refused: %.200s", errServer, e.answer)
}

func (e *sendError) Unwrap() error { return errServer }
