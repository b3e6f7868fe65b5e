package groqfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
)

// chatFields are the request fields of a chat completion that the fake
// knows: OpenAI's and Groq's own.
var chatFields = []string{
	"messages", "model", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs",
	"top_logprobs", "max_tokens", "max_completion_tokens", "n", "parallel_tool_calls",
	"reasoning_effort", "reasoning_format", "include_reasoning", "response_format", "seed",
	"service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
	"tools", "top_p", "user", "metadata", "function_call", "functions", "search_settings",
	"compound_custom", "documents", "citation_options",
}

// ChatRequest is the part of a chat completion request the fake reads.
// Tests can decode a recorded Request's Body into it.
type ChatRequest struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Seed                *int64          `json:"seed,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
}

// Message is one message of a chat request. Content holds a string
// content, or the text parts of an array content joined by newlines.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ResponseFormat is a chat request's response_format.
type ResponseFormat struct {
	Type string `json:"type"`
}

// DecodeChat decodes a chat request body as the fake reads it.
func DecodeChat(body []byte) (ChatRequest, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return ChatRequest{}, fmt.Errorf("groqfake: decode chat request: %w", err)
	}
	req, e := parseChat(raw)
	if e != nil {
		return req, fmt.Errorf("groqfake: decode chat request: %s", e.Message)
	}
	return req, nil
}

// chat serves POST /chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte, reqID string) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		writeError(w, http.StatusBadRequest, invalid(fmt.Sprintf("unsupported content type %q: send application/json", ct)))
		return
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		writeError(w, http.StatusBadRequest, invalid("We could not parse the JSON body of your request. The body must be a JSON object."))
		return
	}
	req, e := parseChat(raw)
	if e != nil {
		writeError(w, http.StatusBadRequest, *e)
		return
	}
	if !s.serves(req.Model) {
		writeError(w, http.StatusNotFound, modelNotFound(req.Model))
		return
	}

	reply := s.next()
	if !s.wait(r.Context(), reply.Delay) || reply.Hangup {
		// The client left, the Server is closing, or the reply hangs up:
		// end the connection without an answer.
		panic(http.ErrAbortHandler)
	}
	for k, vs := range reply.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if reply.Status >= 400 {
		writeError(w, reply.Status, reply.errorFor())
		return
	}
	jsonMode := req.ResponseFormat != nil && req.ResponseFormat.Type == "json_object"
	if s.validateJSON && jsonMode && !isJSONObject(reply.Content) {
		writeError(w, http.StatusBadRequest, apiError{
			Message:          "Failed to validate JSON. Please adjust your prompt. See 'failed_generation' for more details.",
			Type:             "invalid_request_error",
			Code:             "json_validate_failed",
			FailedGeneration: reply.Content,
		})
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	writeJSON(w, status, completion(req, reply, reqID))
}

// completion builds the chat.completion object answering req.
func completion(req ChatRequest, reply Reply, reqID string) map[string]any {
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
	}
	var promptChars int
	for _, m := range req.Messages {
		promptChars += len(m.Content)
	}
	prompt, out := max(1, promptChars/4), max(1, len(reply.Content)/4)
	return map[string]any{
		"id":      "chatcmpl-" + randomAlnum(24),
		"object":  "chat.completion",
		"created": time.Now().Unix(),
		"model":   req.Model,
		"choices": []map[string]any{{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": reply.Content},
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"queue_time":        0.0002,
			"prompt_tokens":     prompt,
			"prompt_time":       0.001,
			"completion_tokens": out,
			"completion_time":   0.01,
			"total_tokens":      prompt + out,
			"total_time":        0.011,
		},
		"system_fingerprint": "fp_groqfake",
		"x_groq":             map[string]any{"id": reqID},
	}
}

func isJSONObject(s string) bool {
	var v map[string]any
	return json.Unmarshal([]byte(s), &v) == nil && v != nil
}

func invalid(msg string) apiError { return apiError{Message: msg, Type: "invalid_request_error"} }

func invalidParam(param, msg string) *apiError {
	e := invalid(msg)
	e.Param = strp(param)
	return &e
}

// parseChat checks a chat request's fields the way the package doc says
// and returns what the fake reads of it.
func parseChat(raw map[string]json.RawMessage) (ChatRequest, *apiError) {
	var req ChatRequest
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(chatFields, k) {
			return req, invalidParam(k, fmt.Sprintf("property '%s' is unsupported", k))
		}
	}
	present := func(k string) bool { v, ok := raw[k]; return ok && string(v) != "null" }
	for _, k := range []string{"logprobs", "logit_bias", "top_logprobs"} {
		if present(k) && string(raw[k]) != "false" {
			return req, invalidParam(k, fmt.Sprintf("'%s' is not supported", k))
		}
	}
	if err := json.Unmarshal(raw["model"], &req.Model); err != nil || req.Model == "" {
		return req, invalidParam("model", "'model' : property 'model' is missing or not a non-empty string")
	}
	if e := parseMessages(raw["messages"], &req); e != nil {
		return req, e
	}
	if present("temperature") {
		var t float64
		if json.Unmarshal(raw["temperature"], &t) != nil || t < 0 || t > 2 {
			return req, invalidParam("temperature", "'temperature' : must be a number between 0 and 2")
		}
		req.Temperature = &t
	}
	if present("top_p") {
		var p float64
		if json.Unmarshal(raw["top_p"], &p) != nil || p < 0 || p > 1 {
			return req, invalidParam("top_p", "'top_p' : must be a number between 0 and 1")
		}
		req.TopP = &p
	}
	if present("n") {
		var n int
		if json.Unmarshal(raw["n"], &n) != nil || n != 1 {
			return req, invalidParam("n", "'n' : number must be at most 1")
		}
		req.N = &n
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		if !present(k) {
			continue
		}
		var n float64
		if json.Unmarshal(raw[k], &n) != nil || n < 1 || n != math.Trunc(n) {
			return req, invalidParam(k, fmt.Sprintf("'%s' : must be an integer of at least 1", k))
		}
		v := int(n)
		if k == "max_tokens" {
			req.MaxTokens = &v
		} else {
			req.MaxCompletionTokens = &v
		}
	}
	if present("seed") {
		var seed int64
		if json.Unmarshal(raw["seed"], &seed) != nil {
			return req, invalidParam("seed", "'seed' : must be an integer")
		}
		req.Seed = &seed
	}
	if present("stream") {
		if json.Unmarshal(raw["stream"], &req.Stream) != nil {
			return req, invalidParam("stream", "'stream' : must be a boolean")
		}
		if req.Stream {
			return req, invalidParam("stream", "groqfake: streaming is not implemented")
		}
	}
	if present("response_format") {
		var rf struct {
			Type       string          `json:"type"`
			JSONSchema json.RawMessage `json:"json_schema"`
		}
		if json.Unmarshal(raw["response_format"], &rf) != nil {
			return req, invalidParam("response_format", "'response_format' : must be an object")
		}
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if len(rf.JSONSchema) == 0 || string(rf.JSONSchema) == "null" {
				return req, invalidParam("response_format", "'response_format.json_schema' : property 'json_schema' is missing")
			}
		default:
			return req, invalidParam("response_format", "'response_format.type' : value must be one of text, json_object, json_schema")
		}
		req.ResponseFormat = &ResponseFormat{Type: rf.Type}
		if rf.Type == "json_object" && !mentionsJSON(req.Messages) {
			return req, invalidParam("messages", "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.")
		}
	}
	return req, nil
}

var roles = []string{"system", "user", "assistant", "tool"}

func parseMessages(raw json.RawMessage, req *ChatRequest) *apiError {
	var msgs []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil || msgs == nil {
		return invalidParam("messages", "'messages' : property 'messages' is missing or not an array")
	}
	if len(msgs) == 0 {
		return invalidParam("messages", "'messages' : minimum number of items is 1")
	}
	for i, m := range msgs {
		param := fmt.Sprintf("messages.%d", i)
		var msg Message
		if json.Unmarshal(m["role"], &msg.Role) != nil || !slices.Contains(roles, msg.Role) {
			return invalidParam(param+".role", fmt.Sprintf("'%s.role' : value must be one of system, user, assistant, tool", param))
		}
		if _, ok := m["name"]; ok {
			return invalidParam(param+".name", fmt.Sprintf("'%s' : property 'name' is unsupported", param))
		}
		content, ok := m["content"]
		switch {
		case !ok || string(content) == "null":
			if msg.Role != "assistant" {
				return invalidParam(param+".content", fmt.Sprintf("'%s' : property 'content' is missing", param))
			}
		case json.Unmarshal(content, &msg.Content) == nil:
		default:
			var parts []struct {
				Type string  `json:"type"`
				Text *string `json:"text"`
			}
			if msg.Role != "user" || json.Unmarshal(content, &parts) != nil {
				return invalidParam(param+".content", fmt.Sprintf("'%s.content' : must be a string", param))
			}
			var texts []string
			for _, p := range parts {
				switch {
				case p.Type == "text" && p.Text != nil:
					texts = append(texts, *p.Text)
				case p.Type == "image_url":
				default:
					return invalidParam(param+".content", fmt.Sprintf("'%s.content' : each part must be text or image_url", param))
				}
			}
			msg.Content = strings.Join(texts, "\n")
		}
		req.Messages = append(req.Messages, msg)
	}
	return nil
}

func mentionsJSON(msgs []Message) bool {
	for _, m := range msgs {
		if strings.Contains(strings.ToLower(m.Content), "json") {
			return true
		}
	}
	return false
}
