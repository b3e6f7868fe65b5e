package groqfake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// model is a model object as GET /models lists it.
type model struct {
	ID                  string `json:"id"`
	Object              string `json:"object"`
	Created             int64  `json:"created"`
	OwnedBy             string `json:"owned_by"`
	Active              bool   `json:"active"`
	ContextWindow       int    `json:"context_window"`
	PublicApps          any    `json:"public_apps"`
	MaxCompletionTokens int    `json:"max_completion_tokens"`
}

func modelObject(id string) model {
	owner := "Meta"
	if o, _, ok := strings.Cut(id, "/"); ok {
		owner = o
	}
	return model{ID: id, Object: "model", Created: 1733447754, OwnedBy: owner, Active: true,
		ContextWindow: 131072, MaxCompletionTokens: 32768}
}

func (s *Server) serves(id string) bool { return slices.Contains(s.models, id) }

func (s *Server) listModels(w http.ResponseWriter) {
	data := make([]model, len(s.models))
	for i, id := range s.models {
		data[i] = modelObject(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (s *Server) getModel(w http.ResponseWriter, id string) {
	if !s.serves(id) {
		writeError(w, http.StatusNotFound, modelNotFound(id))
		return
	}
	writeJSON(w, http.StatusOK, modelObject(id))
}

func modelNotFound(id string) apiError {
	return apiError{
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id),
		Type:    "invalid_request_error",
		Code:    "model_not_found",
	}
}
