package app

import (
	"fmt"
	"net"
	"strings"
)

// ECSHost returns --ecs-endpoint as the host[:port] the ECS client takes:
// an "http://" scheme is accepted with --ecs-insecure (it says the same)
// and "https://" without it; a trailing "/" is dropped.
func (c Config) ECSHost() string {
	_, host := splitScheme(c.ECSEndpoint)
	return host
}

func splitScheme(ep string) (scheme, host string) {
	for _, s := range []string{"http", "https"} {
		if rest, ok := strings.CutPrefix(ep, s+"://"); ok {
			return s, strings.TrimSuffix(rest, "/")
		}
	}
	return "", ep
}

// ecsEndpointError is checkECSEndpoint as one line naming its flag. Like
// the endpoint's own form (checked by ecs.New), it is checked at start.
func (c Config) ecsEndpointError() error {
	if flag, msg := c.checkECSEndpoint(); msg != "" {
		return fmt.Errorf("--%s: %s", flag, msg)
	}
	return nil
}

// checkECSEndpoint explains what is wrong with the endpoint flags, or
// returns "". Plain HTTP to a remote host would carry every signed request
// (and the STS security token in it) in clear, so --ecs-insecure is for
// a loopback endpoint (the simulator) unless --ecs-insecure-allow-remote
// says otherwise.
func (c Config) checkECSEndpoint() (flag, msg string) {
	scheme, host := splitScheme(c.ECSEndpoint)
	switch {
	case scheme == "http" && !c.ECSInsecure:
		return "ecs-endpoint", fmt.Sprintf("%s: plain HTTP needs --ecs-insecure (or give host[:port] for HTTPS)", c.ECSEndpoint)
	case scheme == "https" && c.ECSInsecure:
		return "ecs-endpoint", fmt.Sprintf("%s with --ecs-insecure: the scheme says HTTPS; drop one of them", c.ECSEndpoint)
	case !c.ECSInsecure && c.ECSInsecureAllowRemote:
		return "ecs-insecure-allow-remote", "only means something with --ecs-insecure"
	case !c.ECSInsecure || c.ECSInsecureAllowRemote:
		return "", ""
	case host == "":
		return "ecs-insecure", "plain HTTP to the SDK's own (remote) endpoints would send signed requests in clear; give a loopback --ecs-endpoint, or add --ecs-insecure-allow-remote if you mean it"
	case !loopback(host):
		return "ecs-insecure", fmt.Sprintf("--ecs-endpoint %s is not a loopback address: plain HTTP would send signed requests in clear; add --ecs-insecure-allow-remote if you mean it", c.ECSEndpoint)
	}
	return "", ""
}

// loopback reports whether host[:port] names this machine: localhost or
// a loopback IP. Names are not resolved: what a name resolves to can
// change after the check.
func loopback(hostport string) bool {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
