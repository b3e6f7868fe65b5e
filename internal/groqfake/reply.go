package groqfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Reply is how the Server answers one chat request. The zero Reply
// answers 200 with an empty content.
type Reply struct {
	// Status is the HTTP status; 0 means 200. A status of 400 or more is
	// answered with Error as Groq's error body.
	Status int
	// Content is the assistant message's content in a 200 answer.
	Content string
	// FinishReason is the choice's finish_reason in a 200 answer; ""
	// means "stop".
	FinishReason string
	// Error is the error in an answer of Status 400 or more; when its
	// Message is empty, one fitting the status is used.
	Error APIError
	// Header holds extra response headers, such as Retry-After.
	Header http.Header
	// Delay holds the answer back. The handler gives up (answering
	// nothing) when the client leaves or the Server closes first. A
	// negative Delay holds it until then: a stall.
	Delay time.Duration
	// Hangup closes the connection, after Delay, without answering.
	Hangup bool
}

// APIError is the error object of Groq's (OpenAI's) error body,
// {"error":{…}}.
type APIError struct {
	Message          string  `json:"message"`
	Type             string  `json:"type"`
	Param            *string `json:"param,omitempty"`
	Code             string  `json:"code,omitempty"`
	FailedGeneration string  `json:"failed_generation,omitempty"`
}

// Answer is a 200 answer whose message content is content.
func Answer(content string) Reply { return Reply{Content: content} }

// AnswerJSON is a 200 answer whose content is v marshalled to JSON. It
// panics if v does not marshal: it is for tests.
func AnswerJSON(v any) Reply {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("groqfake: AnswerJSON: %v", err))
	}
	return Answer(string(b))
}

// Fenced is a 200 answer whose content is v marshalled to indented JSON
// inside a Markdown code fence tagged json, as chat models often answer.
func Fenced(v any) Reply {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("groqfake: Fenced: %v", err))
	}
	return Answer("```json\n" + string(b) + "\n```")
}

// Garbage is a 200 answer whose content is prose, not JSON.
func Garbage() Reply {
	return Answer("Sure! Looking at your experiment, everything seems mostly fine, but you might want to check the database.")
}

// RateLimited is a 429 answer with retry-after set to retryAfter, rounded
// up to whole seconds, and Groq's rate-limit error body.
func RateLimited(retryAfter time.Duration) Reply {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	return Reply{
		Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {strconv.Itoa(secs)}},
		Error: APIError{
			Message: fmt.Sprintf("Rate limit reached in organization `org_groqfake` service tier `on_demand` on requests per minute (RPM): Limit 30, Used 30, Requested 1. Please try again in %ds.", secs),
			Type:    "requests",
			Code:    "rate_limit_exceeded",
		},
	}
}

// Failure is an answer of status (500, 502, 503…) with Groq's error body.
func Failure(status int) Reply { return Reply{Status: status} }

// Stall holds the request until the client gives up or the Server closes,
// and answers nothing.
func Stall() Reply { return Reply{Delay: -1} }

// Hangup closes the connection without answering.
func Hangup() Reply { return Reply{Hangup: true} }

// errorFor fills in the error body of a status reply.
func (r Reply) errorFor() APIError {
	e := r.Error
	if e.Message != "" {
		return e
	}
	switch r.Status {
	case http.StatusTooManyRequests:
		return RateLimited(time.Second).Error
	case http.StatusInternalServerError:
		e = APIError{Message: "Internal Server Error", Type: "internal_server_error"}
	case http.StatusBadGateway:
		e = APIError{Message: "Bad Gateway", Type: "internal_server_error"}
	case http.StatusServiceUnavailable:
		e = APIError{Message: "Service Unavailable: the server is temporarily overloaded, please try again later", Type: "internal_server_error", Code: "service_unavailable"}
	default:
		e = APIError{Message: http.StatusText(r.Status), Type: "invalid_request_error"}
	}
	return e
}
