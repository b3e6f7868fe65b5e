// Package awsasg is the chaoslab provider for AWS Auto Scaling groups. It
// attaches to a group that already runs (it never creates or deletes one)
// and hands back a Target that is a chaoslab.Fleet and a chaoslab.Sampler,
// and that can suspend the group's scaling processes for a while.
//
// # AWS configuration
//
// Unless WithConfig gives one, Provision loads the standard AWS
// configuration chain once (config.LoadDefaultConfig: environment, shared
// config and credentials files, SSO, instance roles), so AWS_REGION,
// AWS_PROFILE and AWS_ENDPOINT_URL point it anywhere, a fake or LocalStack
// included. WithLoadOptions adds options to that load. Calls that AWS
// throttles are retried by the SDK's standard retryer.
//
// # TargetSpec
//
// Kind is "fleet" (an existing group; the zero kind means the same) or
// "address"; demo and command targets are refused with an error wrapping
// chaoslab.ErrInvalid, and so are Command, Env, Dir and Dependencies.
// Options:
//
//   - "group": the group's name; default the one of WithGroup.
//   - "allow": comma-separated allow rules that the group must also match
//     (see below).
//
// Address, when set, is the group's load balancer: the target's Endpoint,
// where the Runner sends load and probes; Provision waits until ReadyURL
// (default Address + HealthPath, HealthPath default "/") answers 2xx or 3xx,
// within ReadyTimeout (default DefaultReadyTimeout). Without an Address the
// health URL of WithHealthURL, if any, plays that part: the Endpoint is its
// scheme and host, and it is the ready URL. With neither, Endpoint returns
// "" and the target is judged by its capacity alone.
//
// # Safety
//
// Provision refuses, with an error wrapping ErrNotAllowed, a group that is
// not allowed. Allow rules come from WithAllowed (the operator's) and from
// the spec's "allow" option (the experiment's); the group must match at
// least one rule of each list that is given, and at least one list must be
// given: with no rule at all nothing is allowed. A rule is either a name
// pattern ("web", "staging-*", matched with path.Match) or a tag
// "key=value" whose value is a pattern ("chaos=enabled", "env=test-*").
//
// Terminate acts only on instances that are members of the group at the
// time of the call, and scaling processes suspended through the target are
// always resumed: by their Undo, or at the latest by Close, even when the
// context of the run was cancelled. Processes that were already suspended
// before are left as they were.
//
// # Health
//
// An instance counts as healthy when the group has it InService and
// Healthy and EC2 (DescribeInstances) has it running, so an instance
// EC2 shut down counts as unhealthy before the group's health check
// notices. Without the ec2:DescribeInstances permission the EC2 check is
// dropped, with a warning logged.
//
// IAM permissions used: autoscaling:DescribeAutoScalingGroups,
// autoscaling:TerminateInstanceInAutoScalingGroup,
// autoscaling:SuspendProcesses, autoscaling:ResumeProcesses and
// ec2:DescribeInstances.
package awsasg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chaoslab-dev/chaoslab"
)

// Name is the provider's name, as users type it.
const Name = "aws-asg"

// Keys of TargetSpec.Options.
const (
	OptionGroup = "group"
	OptionAllow = "allow"
)

// Defaults.
const (
	// DefaultReadyTimeout bounds the wait for the ready URL when
	// TargetSpec.ReadyTimeout is 0.
	DefaultReadyTimeout = 30 * time.Second
	// DefaultPollInterval is how often the ready URL is tried.
	DefaultPollInterval = 200 * time.Millisecond
	// closeTimeout bounds the resumption of scaling processes when Close
	// or an Undo is called with a context that is already done.
	closeTimeout = 30 * time.Second
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotAllowed: the group matches no allow rule, or none was given.
	ErrNotAllowed = errors.New("group not allowed")
	// ErrGroupNotFound: there is no Auto Scaling group of that name in the
	// account and region.
	ErrGroupNotFound = errors.New("no such Auto Scaling group")
	// ErrNotMember: Terminate was given an instance that is not an active
	// member of the group; nothing was terminated.
	ErrNotMember = errors.New("instance not in the group")
	// ErrClosed: the target was closed.
	ErrClosed = errors.New("target closed")
)

// Provider attaches to AWS Auto Scaling groups. Its methods are safe for
// concurrent use.
type Provider struct {
	cfg       *aws.Config
	loadOpts  []func(*config.LoadOptions) error
	group     string
	healthURL string
	allowed   []string
	poll      time.Duration
	logger    *slog.Logger

	mu     sync.Mutex
	loaded *session // the configuration, once loaded
}

// session is what every target of a provider shares.
type session struct {
	cfg aws.Config
	// transport is the HTTP transport the provider made for the loaded
	// configuration, nil when the caller gave the configuration; its idle
	// connections are closed when a target closes.
	transport *http.Transport
}

// Option configures a Provider.
type Option func(*Provider)

// WithConfig sets the AWS configuration (region, credentials, endpoint,
// retryer, HTTP client) instead of loading the default chain.
func WithConfig(cfg aws.Config) Option {
	return func(p *Provider) { c := cfg.Copy(); p.cfg = &c }
}

// WithLoadOptions adds options to the loading of the default configuration
// chain, such as config.WithRetryer or config.WithRegion. They are ignored
// with WithConfig.
func WithLoadOptions(opts ...func(*config.LoadOptions) error) Option {
	return func(p *Provider) { p.loadOpts = append(p.loadOpts, opts...) }
}

// WithGroup sets the name of the group to attach to when the spec's
// "group" option does not name one.
func WithGroup(name string) Option { return func(p *Provider) { p.group = name } }

// WithHealthURL sets the URL, behind the group's load balancer, that says
// the service is healthy, such as http://web-lb.example.com/health, for
// specs without an Address. The target's Endpoint is its scheme and host.
func WithHealthURL(u string) Option { return func(p *Provider) { p.healthURL = u } }

// WithAllowed sets the operator's allow rules: group name patterns
// ("web", "staging-*") or tags "key=value" (value a pattern). A group
// must match one of them (and one of the spec's, if it gives any) to be
// provisioned.
func WithAllowed(rules ...string) Option {
	return func(p *Provider) { p.allowed = append(p.allowed, rules...) }
}

// WithPollInterval sets how often Provision tries the ready URL; default
// DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(p *Provider) {
		if d > 0 {
			p.poll = d
		}
	}
}

// WithLogger sets where terminations, suspensions and resumptions are
// logged; by default nowhere.
func WithLogger(l *slog.Logger) Option {
	return func(p *Provider) {
		if l != nil {
			p.logger = l
		}
	}
}

// New returns a provider. It does no I/O: the AWS configuration is loaded
// by the first Provision.
func New(opts ...Option) *Provider {
	p := &Provider{poll: DefaultPollInterval, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Name returns "aws-asg".
func (p *Provider) Name() string { return Name }

var _ chaoslab.Provider = (*Provider)(nil)

// plan is a spec resolved against the provider's defaults.
type plan struct {
	group        string
	experiment   []rule // the spec's allow rules
	endpoint     string // "" without a load balancer
	readyURL     string // "" when there is nothing to wait for
	readyTimeout time.Duration
}

// Provision attaches to the group the spec names: it checks that the group
// exists (ErrGroupNotFound) and is allowed (ErrNotAllowed), waits for the
// ready URL if there is one (chaoslab.ErrNotReady), and returns a *Target.
// A spec it cannot serve is an error wrapping chaoslab.ErrInvalid. It
// changes nothing in AWS.
func (p *Provider) Provision(ctx context.Context, spec chaoslab.TargetSpec) (chaoslab.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awsasg: provision: %w", err)
	}
	pl, err := p.resolve(spec)
	if err != nil {
		return nil, err
	}
	operator, err := parseRules(p.allowed)
	if err != nil {
		return nil, fmt.Errorf("awsasg: WithAllowed: %w", err)
	}
	s, err := p.session(ctx)
	if err != nil {
		return nil, withCtx(ctx, err)
	}
	t := &Target{
		id:        pl.group + "-" + randomHex(4),
		group:     pl.group,
		endpoint:  pl.endpoint,
		asg:       autoscaling.NewFromConfig(s.cfg),
		ec2:       ec2.NewFromConfig(s.cfg),
		transport: s.transport,
		suspended: map[string]int{},
	}
	t.logger = p.logger.With("provider", Name, "group", pl.group, "target", t.id)
	ok := false
	defer func() {
		if !ok {
			t.closeIdle()
		}
	}()
	g, err := t.describe(ctx)
	if err != nil {
		return nil, withCtx(ctx, fmt.Errorf("awsasg: provision: %w", err))
	}
	if err := allowed(g, operator, pl.experiment); err != nil {
		return nil, err
	}
	if pl.readyURL != "" {
		if err := p.waitReady(ctx, pl.readyURL, pl.readyTimeout); err != nil {
			return nil, err
		}
	}
	ok = true
	t.logger.Debug("attached to the group", "desired", aws.ToInt32(g.DesiredCapacity), "instances", len(g.Instances), "endpoint", t.endpoint)
	return t, nil
}

// resolve checks spec and fills in the provider's defaults.
func (p *Provider) resolve(spec chaoslab.TargetSpec) (plan, error) {
	var problems []string
	switch spec.Kind {
	case "", chaoslab.TargetFleet, chaoslab.TargetAddress:
	default:
		problems = append(problems, fmt.Sprintf("target kind %q is not supported: use kind %s (an existing group) or address (its load balancer)", spec.Kind, chaoslab.TargetFleet))
	}
	if len(spec.Command) > 0 {
		problems = append(problems, "command does not apply: the group's instances run what their launch template says")
	}
	if len(spec.Env) > 0 || spec.Dir != "" {
		problems = append(problems, "env and dir do not apply to a group")
	}
	if len(spec.Dependencies) > 0 {
		problems = append(problems, "dependencies cannot be routed through fault proxies on a group")
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Options)) {
		if k != OptionGroup && k != OptionAllow {
			problems = append(problems, fmt.Sprintf("unknown option %q; options: %s, %s", k, OptionGroup, OptionAllow))
		}
	}
	pl := plan{group: strings.TrimSpace(spec.Options[OptionGroup]), readyTimeout: spec.ReadyTimeout}
	if pl.group == "" {
		pl.group = p.group
	}
	if pl.group == "" {
		problems = append(problems, "no group: set options.group or awsasg.WithGroup")
	}
	if pl.readyTimeout <= 0 {
		pl.readyTimeout = DefaultReadyTimeout
	}
	var err error
	if pl.experiment, err = parseRules(splitList(spec.Options[OptionAllow])); err != nil {
		problems = append(problems, "options.allow: "+err.Error())
	}
	switch {
	case spec.Address != "":
		if pl.endpoint, err = chaoslab.NormalizeAddress(spec.Address); err != nil {
			problems = append(problems, fmt.Sprintf("address %q: %v", spec.Address, err))
		}
		path := spec.HealthPath
		if path == "" {
			path = "/"
		}
		pl.readyURL = pl.endpoint + path
	case p.healthURL != "":
		u, err := url.Parse(p.healthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, fmt.Sprintf("health URL %q must be an http(s) URL", p.healthURL))
		} else {
			pl.endpoint = u.Scheme + "://" + u.Host
			pl.readyURL = p.healthURL
		}
	}
	if spec.ReadyURL != "" {
		pl.readyURL = spec.ReadyURL
	}
	if len(problems) > 0 {
		return plan{}, fmt.Errorf("awsasg: %w: %s", chaoslab.ErrInvalid, strings.Join(problems, "; "))
	}
	return pl, nil
}

// session returns the AWS configuration, loading the default chain the
// first time. A failed load is tried again by the next call.
func (p *Provider) session(ctx context.Context) (*session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.loaded != nil {
		return p.loaded, nil
	}
	if p.cfg != nil {
		p.loaded = &session{cfg: p.cfg.Copy()}
		return p.loaded, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, p.loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("awsasg: loading the AWS configuration: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("awsasg: loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("awsasg: no AWS region: set AWS_REGION, a profile's region, or config.WithRegion")
	}
	// Own the transport (with whatever the chain configured on it, such
	// as AWS_CA_BUNDLE), so that closing a target can close its idle
	// connections.
	var tr *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else if cfg.HTTPClient == nil {
		tr = awshttp.NewBuildableClient().GetTransport()
	}
	if tr != nil {
		cfg.HTTPClient = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	p.loaded = &session{cfg: cfg, transport: tr}
	return p.loaded, nil
}

// errReadyTimeout is the cause of the end of waitReady's context when its
// time is up.
var errReadyTimeout = errors.New("ready timeout")

// waitReady polls u until it answers 2xx or 3xx.
func (p *Provider) waitReady(ctx context.Context, u string, timeout time.Duration) error {
	rctx, cancel := context.WithTimeoutCause(ctx, timeout, errReadyTimeout)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for {
		last := probe(rctx, client, u)
		if last == nil {
			return nil
		}
		t := time.NewTimer(p.poll)
		select {
		case <-rctx.Done():
			t.Stop()
			if context.Cause(rctx) == errReadyTimeout {
				return fmt.Errorf("awsasg: %s did not answer within %s: %w (last: %v)", u, timeout, chaoslab.ErrNotReady, last)
			}
			return fmt.Errorf("awsasg: waiting for %s: %w (last: %v)", u, ctx.Err(), last)
		case <-t.C:
		}
	}
}

// probe sends one GET to u.
func probe(ctx context.Context, client *http.Client, u string) error {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 400 {
		return fmt.Errorf("answered %d", resp.StatusCode)
	}
	return nil
}

// withCtx makes err wrap ctx's error when ctx is done, so that a cancelled
// Provision says so whatever the SDK made of it.
func withCtx(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
