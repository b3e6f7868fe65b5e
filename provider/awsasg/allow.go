package awsasg

import (
	"fmt"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// rule is one allow rule: a group name pattern, or a tag whose value
// matches a pattern.
type rule struct {
	raw      string
	tag      bool
	key, pat string // key is the tag key; pat the name or value pattern
}

// parseRules parses allow rules: "name-pattern" or "key=value-pattern".
func parseRules(raw []string) ([]rule, error) {
	var out []rule
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		ru := rule{raw: r, pat: r}
		if k, v, ok := strings.Cut(r, "="); ok {
			ru.tag, ru.key, ru.pat = true, strings.TrimSpace(k), strings.TrimSpace(v)
			if ru.key == "" {
				return nil, fmt.Errorf("allow rule %q: a tag rule is key=value", r)
			}
		}
		if _, err := path.Match(ru.pat, ""); err != nil {
			return nil, fmt.Errorf("allow rule %q: bad pattern: %v", r, err)
		}
		out = append(out, ru)
	}
	return out, nil
}

// match reports whether the group satisfies the rule.
func (r rule) match(g asgtypes.AutoScalingGroup) bool {
	if !r.tag {
		ok, _ := path.Match(r.pat, aws.ToString(g.AutoScalingGroupName))
		return ok
	}
	for _, t := range g.Tags {
		if aws.ToString(t.Key) != r.key {
			continue
		}
		if ok, _ := path.Match(r.pat, aws.ToString(t.Value)); ok {
			return true
		}
	}
	return false
}

// allowed checks the group against the operator's and the experiment's
// rules: it must match one of each list that is given, and one list at
// least must be given.
func allowed(g asgtypes.AutoScalingGroup, operator, experiment []rule) error {
	name := aws.ToString(g.AutoScalingGroupName)
	if len(operator) == 0 && len(experiment) == 0 {
		return fmt.Errorf("awsasg: %w: %s: no allow rule was given; allow the group by name or by tag (awsasg.WithAllowed, or the target's %q option)", ErrNotAllowed, name, OptionAllow)
	}
	for _, list := range []struct {
		who   string
		rules []rule
	}{{"the provider's allow rules", operator}, {"the experiment's allow rules", experiment}} {
		if len(list.rules) == 0 {
			continue
		}
		ok := false
		for _, r := range list.rules {
			if r.match(g) {
				ok = true
				break
			}
		}
		if !ok {
			raws := make([]string, len(list.rules))
			for i, r := range list.rules {
				raws[i] = r.raw
			}
			return fmt.Errorf("awsasg: %w: group %s (tags %s) matches none of %s: %s", ErrNotAllowed, name, tagList(g), list.who, strings.Join(raws, ", "))
		}
	}
	return nil
}

func tagList(g asgtypes.AutoScalingGroup) string {
	if len(g.Tags) == 0 {
		return "none"
	}
	parts := make([]string, len(g.Tags))
	for i, t := range g.Tags {
		parts[i] = aws.ToString(t.Key) + "=" + aws.ToString(t.Value)
	}
	return strings.Join(parts, ", ")
}
