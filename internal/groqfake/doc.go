// Package groqfake is a fake of Groq's OpenAI-compatible API
// (https://api.groq.com/openai/v1) for tests: real HTTP on 127.0.0.1, with
// scripted model answers and a record of every request, so that a test can
// drive a real OpenAI client against it and assert what was sent.
//
// It is written from Groq's published documentation (OpenAI compatibility,
// the API reference for chat completions and models, the error codes and
// rate-limit pages at console.groq.com/docs) and from OpenAI's API
// reference for the chat-completions wire format that Groq follows.
//
// # Wire
//
// BaseURL is the base URL a client is configured with (GROQ_BASE_URL, or
// an OpenAI client's base_url); it ends in /openai/v1, as Groq's does.
// Served under it:
//
//   - POST /chat/completions: a chat completion, answered with the next
//     scripted Reply (see Enqueue) as
//     {"id":"chatcmpl-…","object":"chat.completion","created":…,"model":…,
//     "choices":[{"index":0,"message":{"role":"assistant","content":…},
//     "logprobs":null,"finish_reason":"stop"}],"usage":{…},
//     "system_fingerprint":"fp_…","x_groq":{"id":"req_…"}}.
//   - GET /models and GET /models/{id}: the models the fake serves (see
//     WithModels), as {"object":"list","data":[{"id":…,"object":"model",
//     "created":…,"owned_by":…,"active":true,"context_window":…}]}.
//
// Every request must carry Authorization: Bearer <APIKey>, or it is
// answered 401 {"error":{"message":"Invalid API Key",
// "type":"invalid_request_error","code":"invalid_api_key"}}. Errors are
// OpenAI-style: {"error":{"message":…,"type":…,"code":…}} (param when it
// applies). Every answer carries x-request-id and Groq's x-ratelimit-*
// headers; a scripted 429 adds retry-after (seconds).
//
// A chat request is checked the way Groq documents it and refused with
// 400 invalid_request_error when it does not fit: a JSON body whose model
// is a served model (404 model_not_found otherwise); messages a non-empty
// array of {role, content} with role system, user, assistant or tool and
// content a string (or, for user, an array of text parts); none of the
// fields Groq does not support (logprobs, logit_bias, top_logprobs,
// messages[].name); n, if given, 1; temperature between 0 and 2; top_p
// between 0 and 1; response_format.type one of text, json_object,
// json_schema; and, for json_object, the word "json" somewhere in the
// messages (OpenAI's rule for JSON mode). Unknown top-level fields are
// refused ("property 'x' is unsupported"), to catch sloppy clients.
//
// # Scripted answers
//
// Each chat request that passes the checks takes the next Reply from the
// queue (Enqueue), or the default reply (WithDefaultReply) when the queue
// is empty. A Reply can be a message content (Answer, AnswerJSON, Fenced,
// Garbage), an error status with Groq's error body (RateLimited with
// retry-after, Failure for 500/502/503), a delay before answering, a stall
// that lasts until the client gives up or the server closes (Stall), or a
// connection closed without an answer (Hangup). Requests that fail
// authentication or the checks do not take a reply.
//
// Requests lists every request received (method, path, headers, body and
// the status answered), in order, so tests can assert what a client sent.
//
// # Simplified
//
// Streaming (stream: true) is refused with 400; tools and tool calls,
// the Responses API, audio, batches and files are not served (404). Token
// counts in usage are estimates (a quarter of the characters). With
// WithJSONValidation, a json_object request whose scripted content is not
// a JSON object is answered as Groq answers a failed JSON-mode generation:
// 400 {"error":{"message":"Failed to validate JSON…",
// "type":"invalid_request_error","code":"json_validate_failed",
// "failed_generation":…}}; without it, content is returned as scripted,
// as other OpenAI-compatible servers do.
package groqfake
