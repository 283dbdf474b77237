package api

// ValidateLabel checks one label as metadata.labels would: the key a
// qualified name with an optional DNS subdomain prefix ("example.com/tier"),
// the value empty or at most 63 alphanumeric characters, '-', '_' or '.'.
// The error names the key and wraps ErrInvalid.
func ValidateLabel(key, value string) error {
	if msg := checkQualifiedName(key); msg != "" {
		return invalidf("label key %s: %s", quote(key), msg)
	}
	if msg := checkLabelValue(value); msg != "" {
		return invalidf("label %s: value %s %s", quote(key), quote(value), msg)
	}
	return nil
}
