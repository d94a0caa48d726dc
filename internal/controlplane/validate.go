package controlplane

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// Patterns and limits of the kinesisvideo service model.
var (
	namePattern        = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	mediaTypePattern   = regexp.MustCompile(`^[\w\-\.\+]+/[\w\-\.\+]+(,[\w\-\.\+]+/[\w\-\.\+]+)*$`)
	versionPattern     = regexp.MustCompile(`^[a-zA-Z0-9]+$`)
	nextTokenPattern   = regexp.MustCompile(`^[a-zA-Z0-9+/=]*$`)
	tagKeyPattern      = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	tagValuePattern    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	anyPattern         = regexp.MustCompile(`^(?s).+$`)
	uriPattern         = regexp.MustCompile(`^[a-zA-Z_0-9]+:(//)?([^/]+)/?([^*]*)$`)
	regionPattern      = regexp.MustCompile(`^[a-z]+(-[a-z]+)?-[a-z]+-[0-9]$`)
	hubDevicePattern   = regexp.MustCompile(`^arn:[a-z\d-]+:iot:[a-z0-9-]+:[0-9]+:thing/[a-zA-Z0-9_.-]+$`)
	secretArnPattern   = regexp.MustCompile(`^arn:[a-z\d-]+:secretsmanager:[a-z0-9-]+:[0-9]+:secret:[a-zA-Z0-9_.-]+$`)
	scheduleExpr       = regexp.MustCompile(`^[^\n]{11,100}$`)
	formatValuePattern = regexp.MustCompile(`^[a-zA-Z_0-9]+`)
	arnPatternText     = `arn:[a-z\d-]+:kinesisvideo:[a-z0-9-]+:[0-9]+:[a-z]+/[a-zA-Z0-9_.-]+/[0-9]+`
)

const (
	maxTagsPerResource = 50
	maxRetentionHours  = 87600
)

// validator collects model-constraint violations and reports them the way
// AWS services do: "2 validation errors detected: Value 'x' at 'streamName'
// failed to satisfy constraint: Member must ...; Value ...".
type validator struct {
	errs []string
}

func (v *validator) add(value, path, constraint string) {
	v.errs = append(v.errs, fmt.Sprintf("Value %s at '%s' failed to satisfy constraint: %s", value, path, constraint))
}

func quote(s string) string {
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return "'" + s + "'"
}

// required records a violation when a required member is absent.
func (v *validator) required(path string, present bool) bool {
	if !present {
		v.add("null", path, "Member must not be null")
	}
	return present
}

// str checks an optional string member: length in runes within [min, max]
// and, when re is non-nil, the pattern (shown as pat).
func (v *validator) str(path string, s *string, min, max int, re *regexp.Regexp, pat string) {
	if s == nil {
		return
	}
	n := utf8.RuneCountInString(*s)
	switch {
	case n < min:
		v.add(quote(*s), path, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	case n > max:
		v.add(quote(*s), path, fmt.Sprintf("Member must have length less than or equal to %d", max))
	case re != nil && !re.MatchString(*s):
		v.add(quote(*s), path, "Member must satisfy regular expression pattern: "+pat)
	}
}

// reqStr is str for a required member.
func (v *validator) reqStr(path string, s *string, min, max int, re *regexp.Regexp, pat string) {
	if v.required(path, s != nil) {
		v.str(path, s, min, max, re, pat)
	}
}

// num checks an optional integer member against [min, max].
func (v *validator) num(path string, n *int64, min, max int64) {
	if n == nil {
		return
	}
	switch {
	case *n < min:
		v.add(fmt.Sprint(*n), path, fmt.Sprintf("Member must have value greater than or equal to %d", min))
	case *n > max:
		v.add(fmt.Sprint(*n), path, fmt.Sprintf("Member must have value less than or equal to %d", max))
	}
}

// enum checks an optional enum member.
func (v *validator) enum(path string, s *string, allowed ...string) {
	if s == nil {
		return
	}
	for _, a := range allowed {
		if *s == a {
			return
		}
	}
	v.add(quote(*s), path, "Member must satisfy enum value set: ["+strings.Join(allowed, ", ")+"]")
}

// count checks the number of entries of a list or map member.
func (v *validator) count(path string, n, min, max int, show string) {
	switch {
	case n < min:
		v.add(show, path, fmt.Sprintf("Member must have length greater than or equal to %d", min))
	case n > max:
		v.add(show, path, fmt.Sprintf("Member must have length less than or equal to %d", max))
	}
}

// Common members.

func (v *validator) streamName(path string, s *string) {
	v.str(path, s, 1, 256, namePattern, `[a-zA-Z0-9_.-]+`)
}

func (v *validator) channelName(path string, s *string) {
	v.str(path, s, 1, 256, namePattern, `[a-zA-Z0-9_.-]+`)
}

func (v *validator) resourceARN(path string, s *string) {
	if s == nil {
		return
	}
	v.str(path, s, 1, 1024, nil, "")
	if len(*s) >= 1 && len(*s) <= 1024 {
		if _, err := awsapi.ParseARN(*s); err != nil {
			v.add(quote(*s), path, "Member must satisfy regular expression pattern: "+arnPatternText)
		}
	}
}

func (v *validator) version(path string, s *string) {
	v.str(path, s, 1, 64, versionPattern, `[a-zA-Z0-9]+`)
}

func (v *validator) nextToken(path string, s *string) {
	v.str(path, s, 0, 1024, nextTokenPattern, `[a-zA-Z0-9+/=]*`)
}

func (v *validator) tagKey(path string, k string) {
	v.str(path, &k, 1, 128, tagKeyPattern, `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
}

func (v *validator) tagValue(path string, val string) {
	v.str(path, &val, 0, 256, tagValuePattern, `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`)
}

// tagMap checks a ResourceTags map (keys and values; the count is checked by
// the caller, which answers TagsPerResourceExceededLimitException).
func (v *validator) tagMap(path string, tags map[string]string) {
	for k, val := range tags {
		v.tagKey(path+".key", k)
		v.tagValue(path+".value", val)
	}
}

// tagKeyList checks a TagKeyList (1..50 keys).
func (v *validator) tagKeyList(path string, keys []string, present bool) {
	if !v.required(path, present) {
		return
	}
	v.count(path, len(keys), 1, maxTagsPerResource, fmt.Sprintf("%v", keys))
	for i, k := range keys {
		v.tagKey(fmt.Sprintf("%s.%d.member", path, i+1), k)
	}
}

// err returns the collected violations as an InvalidArgumentException, or
// nil when there were none.
func (v *validator) err() error {
	switch len(v.errs) {
	case 0:
		return nil
	case 1:
		return awsapi.Errorf(awsapi.InvalidArgument, "1 validation error detected: %s", v.errs[0])
	default:
		return awsapi.Errorf(awsapi.InvalidArgument, "%d validation errors detected: %s", len(v.errs), strings.Join(v.errs, "; "))
	}
}

// invalid returns an InvalidArgumentException with a plain message.
func invalid(format string, args ...any) error {
	return awsapi.Errorf(awsapi.InvalidArgument, format, args...)
}

func itoa(i int) string { return fmt.Sprint(i) }

func joinComma(s []string) string { return strings.Join(s, ", ") }
