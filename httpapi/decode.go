package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/gatehouse/gatehouse"
)

// bodyError classifies a failure to read a body: over the limit is 413,
// anything else a 422 on the body.
func bodyError(err error, msg string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return errTooLarge
	}
	return gatehouse.Invalid([]string{"body"}, msg, "value_error")
}

// readForm parses a urlencoded or multipart form body (RFC 6749 §4.3.2: the
// token endpoint takes form bodies only) into its values. Parameters in the
// query string are ignored: credentials do not belong in URLs. A parameter
// sent twice is refused (RFC 6749 §3.1).
func readForm(r *http.Request) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, gatehouse.Invalid([]string{"body"}, "A form body is required (application/x-www-form-urlencoded or multipart/form-data)", "value_error.form")
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyError(err, "Unreadable body")
		}
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, gatehouse.Invalid([]string{"body"}, "Unparsable form body", "value_error.form")
		}
		return v, checkOnce(v)
	case "multipart/form-data":
		if err := r.ParseMultipartForm(MaxBodyBytes); err != nil {
			return nil, bodyError(err, "Unparsable multipart body")
		}
		if r.MultipartForm != nil {
			defer r.MultipartForm.RemoveAll()
			if len(r.MultipartForm.File) > 0 {
				return nil, gatehouse.Invalid([]string{"body"}, "File parts are not accepted", "value_error.form")
			}
		}
		return r.PostForm, checkOnce(r.PostForm)
	}
	return nil, gatehouse.Invalid([]string{"body"}, "A form body is required (application/x-www-form-urlencoded or multipart/form-data)", "value_error.form")
}

func checkOnce(v url.Values) error {
	for k, vals := range v {
		if len(vals) > 1 {
			return gatehouse.Invalid([]string{"body", k}, "Parameter must not be repeated", "value_error.duplicate")
		}
	}
	return nil
}

// readJSON decodes a JSON object body into v. Unknown fields are ignored,
// as FastAPI does; anything that is not one JSON value (trailing data
// included, even a lone "]") is a 422.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err, "Unreadable body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return gatehouse.Invalid([]string{"body", typeErr.Field}, "Wrong type: expected "+typeErr.Type.String(), "type_error")
		}
		return gatehouse.Invalid([]string{"body"}, "Unparsable JSON body", "value_error.jsondecode")
	}
	return nil
}

// isForm reports whether r declares a form body.
func isForm(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

func missing(field string) error {
	return gatehouse.Invalid([]string{"body", field}, "field required", "value_error.missing")
}
