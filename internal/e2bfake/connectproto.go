//go:build unix

package e2bfake

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// This file speaks the Connect protocol (https://connectrpc.com/docs/protocol)
// with the JSON codec, as envd serves it: unary calls are POSTs of
// application/json answered with application/json; server streams are POSTs
// of one enveloped message as application/connect+json, answered with
// enveloped messages and an end-of-stream envelope; client streams are the
// converse.

// Connect error codes.
const (
	codeCanceled           = "canceled"
	codeUnknown            = "unknown"
	codeInvalidArgument    = "invalid_argument"
	codeDeadlineExceeded   = "deadline_exceeded"
	codeNotFound           = "not_found"
	codeAlreadyExists      = "already_exists"
	codeFailedPrecondition = "failed_precondition"
	codeUnimplemented      = "unimplemented"
	codeInternal           = "internal"
	codeUnavailable        = "unavailable"
	codeUnauthenticated    = "unauthenticated"
)

const (
	envelopeCompressed = 0x01
	envelopeEndStream  = 0x02
	maxMessageBytes    = 32 << 20
)

// connectError is an RPC error as Connect puts it on the wire.
type connectError struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func (e *connectError) Error() string { return e.Code + ": " + e.Message }

func connectErrorf(code, format string, args ...any) *connectError {
	return &connectError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// toConnectError maps err to the error a connect-go handler would send.
func toConnectError(err error) *connectError {
	var ce *connectError
	if errors.As(err, &ce) {
		return ce
	}
	var de *pbDecodeError
	if errors.As(err, &de) {
		return &connectError{Code: codeInvalidArgument, Message: de.Error()}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &connectError{Code: codeDeadlineExceeded, Message: err.Error()}
	case errors.Is(err, context.Canceled):
		return &connectError{Code: codeCanceled, Message: err.Error()}
	}
	return &connectError{Code: codeUnknown, Message: err.Error()}
}

// connectHTTPStatus is the HTTP status of a unary error with code.
func connectHTTPStatus(code string) int {
	switch code {
	case codeCanceled:
		return 499
	case codeInvalidArgument, codeFailedPrecondition, "out_of_range":
		return http.StatusBadRequest
	case codeDeadlineExceeded:
		return http.StatusGatewayTimeout
	case codeNotFound:
		return http.StatusNotFound
	case codeAlreadyExists, "aborted":
		return http.StatusConflict
	case "permission_denied":
		return http.StatusForbidden
	case "resource_exhausted":
		return http.StatusTooManyRequests
	case codeUnimplemented:
		return http.StatusNotImplemented
	case codeUnavailable:
		return http.StatusServiceUnavailable
	case codeUnauthenticated:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// rpcKind is the shape of an RPC.
type rpcKind int

const (
	unaryRPC rpcKind = iota
	serverStreamRPC
	clientStreamRPC
)

// rpcCall is one Connect call being served.
type rpcCall struct {
	kind    rpcKind
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context // the request's, with Connect-Timeout-Ms applied
	timeout time.Duration   // from Connect-Timeout-Ms; 0 if none
	started bool            // the stream's headers are sent
	ended   bool            // the answer is complete
}

// contentTypeOK reports whether the request's content type is Connect's
// JSON codec for kind.
func contentTypeOK(kind rpcKind, header string) bool {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return false
	}
	if kind == unaryRPC {
		cs, hasCS := params["charset"]
		return mt == "application/json" && (!hasCS || cs == "utf-8")
	}
	return mt == "application/connect+json"
}

// newRPCCall checks the Connect headers of r. The returned cancel must be
// called when the call ends.
func newRPCCall(w http.ResponseWriter, r *http.Request, kind rpcKind) (*rpcCall, context.CancelFunc, error) {
	c := &rpcCall{kind: kind, w: w, r: r, ctx: r.Context()}
	cancel := context.CancelFunc(func() {})
	if v := r.Header.Get("Connect-Protocol-Version"); v != "" && v != "1" {
		return c, cancel, connectErrorf(codeInvalidArgument, "connect-protocol-version must be %q: got %q", "1", v)
	}
	if t := r.Header.Get("Connect-Timeout-Ms"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if len(t) > 10 || err != nil || ms < 0 {
			return c, cancel, connectErrorf(codeInvalidArgument, "parse timeout: %q is not a valid timeout", t)
		}
		c.timeout = time.Duration(ms) * time.Millisecond
		c.ctx, cancel = context.WithTimeout(r.Context(), c.timeout)
	}
	return c, cancel, nil
}

// readUnary reads a unary request's message.
func (c *rpcCall) readUnary() ([]byte, error) {
	var body io.Reader = c.r.Body
	switch enc := c.r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(c.r.Body)
		if err != nil {
			return nil, connectErrorf(codeInvalidArgument, "decompress request: %v", err)
		}
		defer zr.Close()
		body = zr
	default:
		return nil, connectErrorf(codeUnimplemented, "unknown compression %q: supported encodings are gzip", enc)
	}
	data, err := io.ReadAll(io.LimitReader(body, maxMessageBytes+1))
	if err != nil {
		return nil, connectErrorf(codeInvalidArgument, "read request: %v", err)
	}
	if len(data) > maxMessageBytes {
		return nil, connectErrorf("resource_exhausted", "message larger than %d bytes", maxMessageBytes)
	}
	return data, nil
}

// readEnvelope reads the next enveloped message of a streaming request; it
// returns io.EOF at the end of the request.
func (c *rpcCall) readEnvelope() ([]byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(c.r.Body, head[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, connectErrorf(codeInvalidArgument, "protocol error: incomplete envelope: %v", err)
	}
	flags, size := head[0], binary.BigEndian.Uint32(head[1:])
	if flags&envelopeEndStream != 0 {
		return nil, connectErrorf(codeInvalidArgument, "protocol error: end-stream flag in a request")
	}
	if size > maxMessageBytes {
		return nil, connectErrorf("resource_exhausted", "message larger than %d bytes", maxMessageBytes)
	}
	data := make([]byte, size)
	if _, err := io.ReadFull(c.r.Body, data); err != nil {
		return nil, connectErrorf(codeInvalidArgument, "protocol error: promised %d bytes in enveloped message, got fewer: %v", size, err)
	}
	if flags&envelopeCompressed != 0 {
		if enc := c.r.Header.Get("Connect-Content-Encoding"); enc != "gzip" {
			return nil, connectErrorf(codeInternal, "protocol error: sent compressed message without compression support (connect-content-encoding %q)", enc)
		}
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, connectErrorf(codeInvalidArgument, "decompress message: %v", err)
		}
		defer zr.Close()
		data, err = io.ReadAll(io.LimitReader(zr, maxMessageBytes+1))
		if err != nil || len(data) > maxMessageBytes {
			return nil, connectErrorf(codeInvalidArgument, "decompress message: %v", err)
		}
	}
	return data, nil
}

// readStreamRequest reads the one message of a server-streaming request.
func (c *rpcCall) readStreamRequest() ([]byte, error) {
	data, err := c.readEnvelope()
	if errors.Is(err, io.EOF) {
		return nil, connectErrorf(codeUnimplemented, "unary stream has no messages")
	}
	if err != nil {
		return nil, err
	}
	if _, err := c.readEnvelope(); !errors.Is(err, io.EOF) {
		return nil, connectErrorf(codeUnimplemented, "unary stream has multiple messages")
	}
	return data, nil
}

// reply sends the answer of a unary call, or the single message and the
// end of a client stream.
func (c *rpcCall) reply(msg any) {
	if c.kind == clientStreamRPC {
		if err := c.send(msg); err == nil {
			c.end(nil)
		}
		return
	}
	body, err := json.Marshal(msg)
	if err != nil {
		c.fail(err)
		return
	}
	c.ended = true
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(body)
}

// fail ends the call with err.
func (c *rpcCall) fail(err error) {
	if c.ended {
		return
	}
	ce := toConnectError(err)
	if c.kind != unaryRPC {
		c.end(ce)
		return
	}
	c.ended = true
	body, _ := json.Marshal(ce)
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	c.w.WriteHeader(connectHTTPStatus(ce.Code))
	_, _ = c.w.Write(body)
}

func (c *rpcCall) startStream() {
	if c.started {
		return
	}
	c.started = true
	c.w.Header().Set("Content-Type", "application/connect+json")
	c.w.WriteHeader(http.StatusOK)
}

// send writes one message of a stream and flushes it.
func (c *rpcCall) send(msg any) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return c.writeEnvelope(0, body)
}

// end writes the end-of-stream envelope, with err if not nil.
func (c *rpcCall) end(err *connectError) {
	if c.ended {
		return
	}
	c.ended = true
	var msg struct {
		Error *connectError `json:"error,omitempty"`
	}
	msg.Error = err
	body, _ := json.Marshal(msg)
	_ = c.writeEnvelope(envelopeEndStream, body)
}

func (c *rpcCall) writeEnvelope(flags byte, body []byte) error {
	c.startStream()
	buf := make([]byte, 5+len(body))
	buf[0] = flags
	binary.BigEndian.PutUint32(buf[1:5], uint32(len(body)))
	copy(buf[5:], body)
	if _, err := c.w.Write(buf); err != nil {
		return err
	}
	return http.NewResponseController(c.w).Flush()
}
