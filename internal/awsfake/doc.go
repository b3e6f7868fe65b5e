// Package awsfake is an in-memory fake of the parts of Amazon EC2 Auto
// Scaling and Amazon EC2 that chaoslab's AWS provider uses, served over real
// HTTP on 127.0.0.1 so that the real aws-sdk-go-v2 clients can talk to it
// (set AWS_ENDPOINT_URL, or a client's BaseEndpoint, to [Server.URL]).
//
// # What it follows
//
// The wire shapes come from the published Smithy models in
// github.com/aws/api-models-aws:
//
//   - auto-scaling/service/2011-01-01/auto-scaling-2011-01-01.json
//     (service AutoScaling_2011_01_01, protocol aws.protocols#awsQuery,
//     XML namespace http://autoscaling.amazonaws.com/doc/2011-01-01/);
//   - ec2/service/2016-11-15/ec2-2016-11-15.json (protocol
//     aws.protocols#ec2Query, namespace http://ec2.amazonaws.com/doc/2016-11-15/),
//     cross-checked against the shapes aws-sdk-go-v2's service/ec2 v1.344
//     decodes, and AWS's documentation of the query protocols and common
//     errors.
//
// # Faithful
//
//   - Requests: POST, application/x-www-form-urlencoded, Action and Version;
//     awsQuery lists as Name.member.N (Filters.member.1.Values.member.1),
//     ec2Query lists as Name.N (InstanceId.1, Filter.1.Value.1).
//   - Routing: both services share one endpoint; the service is the one named
//     in the SigV4 credential scope (autoscaling or ec2) or, for unsigned
//     requests, the one whose API version the Version field names.
//   - Authentication: a request must carry a well-formed SigV4 Authorization
//     header and X-Amz-Date; unsigned ones get MissingAuthenticationToken.
//     With [WithCredentials] the signature itself is verified (the canonical
//     request is rebuilt from the received request) and a wrong secret gets
//     SignatureDoesNotMatch (Auto Scaling) or AuthFailure (EC2). Clock skew
//     is not checked.
//   - Responses: awsQuery <XResponse xmlns=…><XResult>…</XResult>
//     <ResponseMetadata><RequestId>…; ec2Query <XResponse xmlns=…>
//     <requestId>… with lowerCamel names and item lists; empty lists are
//     written as empty elements, timestamps as ISO 8601 UTC with milliseconds.
//   - Errors: awsQuery <ErrorResponse><Error><Type>Sender|Receiver</Type>
//     <Code>…</Code><Message>…</Message></Error><RequestId>… and ec2Query
//     <Response><Errors><Error><Code>…</Code><Message>…</Message></Error>
//     </Errors><RequestID>…; codes and statuses as AWS sends them
//     (ValidationError 400, InvalidNextToken 400, ScalingActivityInProgress
//     400, Throttling 400 "Rate exceeded"; InvalidInstanceID.NotFound and
//     .Malformed 400, InvalidParameterValue 400, DryRunOperation 412,
//     RequestLimitExceeded 503 "Request limit exceeded."; InvalidAction 400
//     for any action the fake does not serve).
//   - Auto Scaling: DescribeAutoScalingGroups (names; tag-key, tag-value and
//     tag:<key> filters; MaxRecords/NextToken), DescribeAutoScalingInstances,
//     TerminateInstanceInAutoScalingGroup (ShouldDecrementDesiredCapacity,
//     the min-size check, an Activity back), SetDesiredCapacity,
//     SuspendProcesses and ResumeProcesses (SuspendedProcesses reflect them;
//     an empty list means every process), DescribeScalingActivities,
//     CreateOrUpdateTags and DescribeTags.
//   - EC2: DescribeInstances (InstanceId.N; filters instance-id,
//     instance-state-name, instance-state-code, availability-zone,
//     instance-type, reservation-id, tag:<key>, tag-key, tag-value with * and
//     ? wildcards; MaxResults/NextToken; DryRun), DescribeInstanceStatus
//     (IncludeAllInstances, state and status filters) and TerminateInstances
//     (instancesSet with previousState and currentState; DryRun). Terminated
//     instances stay visible for an hour, as on EC2.
//   - The group's controller: instances are launched round-robin across the
//     group's zones into the least populated one, go Pending (EC2 pending)
//     and then InService (running) after PendingFor. A terminated instance
//     goes Terminating (EC2 shutting-down) and leaves the group after
//     TerminateFor (EC2 terminated); only then is its replacement launched,
//     as the Auto Scaling documentation describes, unless the desired
//     capacity was decremented or Launch is suspended. An instance terminated
//     through EC2 is marked Unhealthy by the HealthCheck process and replaced
//     by ReplaceUnhealthy; scaling in picks instances from the zone with the
//     most. Suspending Launch, Terminate, HealthCheck or ReplaceUnhealthy
//     stops the matching step; the other processes are only recorded.
//
// # Simplified
//
// One account (123456789012) and one region (us-east-1 unless
// [WithRegion]); groups are seeded with [Server.AddGroup], never created
// through the API; no launch templates, lifecycle hooks, warm pools,
// cooldowns, instance protection, load balancers or standby; health is
// detected at once; EC2 pending ends when the instance goes InService;
// pagination tokens are opaque but not tied to a caller; POST only;
// request size is capped at 1 MiB.
//
// # Time and faults
//
// The simulation is driven by its [Clock]: it keeps no goroutine and
// catches up with the clock whenever it is asked anything, so a
// [ManualClock] makes a test fully deterministic, and the wall clock (the
// default) serves end-to-end tests in real time. [Server.History],
// [Server.Recoveries] and [Server.LastRecovery] give the exact times of what
// happened, against which a client's measured recovery can be compared.
// [Server.Throttle], [Server.FailNext] and [Server.SetDelay] inject
// throttling, arbitrary errors and slow calls per action;
// [Server.TerminateInstance] stands for a termination from outside both
// APIs (a spot interruption). [Server.Env] gives a child process (the CLI
// under test) the environment that points the standard AWS configuration
// chain at the server.
package awsfake
