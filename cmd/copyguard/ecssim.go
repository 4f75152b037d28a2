package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/copyguard/copyguard/cloud/ecssim"
)

// The access key pair the simulator accepts when neither flags nor the SDK's
// environment variables name one. It is public on purpose: the simulator
// guards nothing.
const (
	simDefaultKeyID  = "sim-key"
	simDefaultSecret = "sim-secret"
)

type ecssimOptions struct {
	addr     string
	seedFile string
	copies   int
	keyID    string
	secret   string
	regions  string
	tls      bool
	cfg      ecssim.Config
	faults   ecssim.Faults
}

func runECSSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseECSSimFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	sim := ecssim.New(o.cfg)
	sim.SetFaults(o.faults)
	seeded := 0
	if o.seedFile != "" {
		if seeded, err = seedFromFile(sim, o.seedFile); err != nil {
			return err
		}
	}
	demo := sim.AddDemoCopies(o.copies)

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("ecssim listen %s: %w", o.addr, err)
	}
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		// No WriteTimeout: injected latency may be longer than any fixed
		// value, and cutting it would hide the slow answer being tested.
	}
	scheme := "http"
	if o.tls {
		cfg, err := selfSignedTLS(ln.Addr())
		if err != nil {
			ln.Close()
			return fmt.Errorf("ecssim tls: %w", err)
		}
		ln = tls.NewListener(ln, cfg)
		scheme = "https"
	}
	fmt.Fprintf(stdout, "ecssim listening on %s://%s\n", scheme, ln.Addr())
	fmt.Fprintf(stderr, "ecssim: access key id %s; %d regions; %d images seeded from file; %d demo copies\n",
		o.keyID, len(sim.Regions()), seeded, len(demo))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ecssim serve: %w", err)
	case <-ctx.Done():
	}
	// A bounded graceful stop; answers held back by injected latency are cut
	// after it rather than keeping the process alive.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("ecssim serve: %w", err)
	}
	return nil
}

func parseECSSimFlags(args []string, help io.Writer) (ecssimOptions, error) {
	var o ecssimOptions
	fs := flag.NewFlagSet("copyguard ecssim", flag.ContinueOnError)
	fs.SetOutput(help)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: copyguard ecssim [flags]\n\nServe the ECS API simulator (CopyImage, DescribeImages, CancelCopyImage).\n\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address (host:port; port 0 picks a free one)")
	fs.StringVar(&o.seedFile, "seed", "", "YAML or JSON list of images to seed (keys: id, region, name, description,\n"+
		"resource_group_id, owner_alias, status, progress, is_copied, source_image_id, source_region,\n"+
		"size_gb, tags, created (RFC 3339), age, wait_for, copy_time, fail)")
	fs.IntVar(&o.copies, "copies", 0, "seed this many random in-flight copies across the regions, for demos")
	fs.StringVar(&o.keyID, "access-key-id", envOr("ALIBABA_CLOUD_ACCESS_KEY_ID", simDefaultKeyID),
		"accepted AccessKeyId (default $ALIBABA_CLOUD_ACCESS_KEY_ID, else "+simDefaultKeyID+")")
	fs.StringVar(&o.secret, "access-key-secret", envOr("ALIBABA_CLOUD_ACCESS_KEY_SECRET", simDefaultSecret),
		"its AccessKeySecret (default $ALIBABA_CLOUD_ACCESS_KEY_SECRET, else "+simDefaultSecret+")")
	fs.StringVar(&o.regions, "regions", "", "comma-separated known regions (default: "+strings.Join(ecssim.DefaultRegions, ",")+")")
	fs.DurationVar(&o.cfg.WaitFor, "wait-for", 0, "time a copy spends Waiting (0: 30s)")
	fs.DurationVar(&o.cfg.CopyTime, "copy-time", 0, "time a copy spends Creating (0: copy-per-gb × size)")
	fs.DurationVar(&o.cfg.CopyPerGB, "copy-per-gb", 0, "copy speed when copy-time is 0 (0: 15s per GiB)")
	fs.Uint64Var(&o.cfg.Seed, "rand-seed", 0, "seed for generated ids, demo copies and fault draws (0: random)")
	fs.Float64Var(&o.faults.ThrottleQPS, "throttle-qps", 0, "answer Throttling.User above this many calls/s per region and action (0: off)")
	fs.IntVar(&o.faults.ThrottleBurst, "throttle-burst", 0, "token bucket size for --throttle-qps (0: ceil(qps))")
	fs.Float64Var(&o.faults.ErrorRate, "error-rate", 0, "share 0..1 of answers replaced by 500 InternalError / 503 ServiceUnavailable")
	fs.Float64Var(&o.faults.RawErrorRate, "raw-error-rate", 0, "share 0..1 of answers replaced by a 502 with an HTML body")
	fs.DurationVar(&o.faults.Latency, "latency", 0, "delay added to every answer")
	fs.Float64Var(&o.faults.DropRate, "drop-rate", 0, "share 0..1 of requests whose connection is closed without an answer")
	fs.BoolVar(&o.tls, "tls", false, "serve HTTPS with a fresh self-signed certificate (clients must skip verification)")
	if err := parse(fs, args); err != nil {
		return o, err // flag.ErrHelp, or a *usageError
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	if o.copies < 0 {
		errs = append(errs, errors.New("--copies: must be >= 0"))
	}
	if o.keyID == "" || o.secret == "" {
		errs = append(errs, errors.New("--access-key-id and --access-key-secret: must not be empty"))
	}
	if o.cfg.WaitFor < 0 || o.cfg.CopyTime < 0 || o.cfg.CopyPerGB < 0 {
		errs = append(errs, errors.New("--wait-for, --copy-time, --copy-per-gb: must be >= 0"))
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--error-rate", o.faults.ErrorRate}, {"--raw-error-rate", o.faults.RawErrorRate}, {"--drop-rate", o.faults.DropRate}} {
		if !(r.v >= 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("%s: must be between 0 and 1", r.flag))
		}
	}
	if !(o.faults.ThrottleQPS >= 0) || o.faults.ThrottleBurst < 0 || o.faults.Latency < 0 {
		errs = append(errs, errors.New("--throttle-qps, --throttle-burst, --latency: must be >= 0"))
	}
	if o.regions != "" {
		for r := range strings.SplitSeq(o.regions, ",") {
			if r = strings.TrimSpace(r); r != "" {
				o.cfg.Regions = append(o.cfg.Regions, r)
			}
		}
		if len(o.cfg.Regions) == 0 {
			errs = append(errs, errors.New("--regions: no region given"))
		}
	}
	if o.copies > 0 && o.cfg.Regions != nil && len(o.cfg.Regions) < 2 {
		errs = append(errs, errors.New("--copies: needs at least two regions"))
	}
	if len(errs) > 0 {
		return o, usageErrorf(fs, "%v", errors.Join(errs...))
	}
	o.cfg.Keys = map[string]string{o.keyID: o.secret}
	return o, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// seedImage is one entry of a --seed file. Durations are Go duration
// strings ("90s", "20m"); age backdates Created from the server start.
type seedImage struct {
	ID              string            `yaml:"id"`
	Region          string            `yaml:"region"`
	Name            string            `yaml:"name"`
	Description     string            `yaml:"description"`
	ResourceGroupID string            `yaml:"resource_group_id"`
	OwnerAlias      string            `yaml:"owner_alias"`
	Status          string            `yaml:"status"`
	Progress        int               `yaml:"progress"`
	IsCopied        bool              `yaml:"is_copied"`
	SourceImageID   string            `yaml:"source_image_id"`
	SourceRegion    string            `yaml:"source_region"`
	SizeGB          int               `yaml:"size_gb"`
	Tags            map[string]string `yaml:"tags"`
	Created         string            `yaml:"created"`
	Age             string            `yaml:"age"`
	WaitFor         string            `yaml:"wait_for"`
	CopyTime        string            `yaml:"copy_time"`
	Fail            bool              `yaml:"fail"`
}

// seedFromFile loads a YAML (or JSON, which YAML reads) list of images,
// reporting every bad entry as file:line, and seeds them only if all are
// good, so a typo never leaves a half-seeded server.
func seedFromFile(sim *ecssim.Server, path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("ecssim seed: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return 0, fmt.Errorf("ecssim seed %s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return 0, nil
	}
	list := root.Content[0]
	if list.Kind != yaml.SequenceNode {
		return 0, fmt.Errorf("%s:%d:%d: want a list of images", path, list.Line, list.Column)
	}
	start := time.Now()
	var (
		imgs []ecssim.Image
		errs []error
	)
	for _, n := range list.Content {
		img, err := decodeSeedImage(n, start)
		if err == nil && !slices.Contains(sim.Regions(), img.Region) {
			err = fmt.Errorf("region: %q is not one of the simulator's regions (see --regions)", img.Region)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %w", path, n.Line, n.Column, err))
			continue
		}
		imgs = append(imgs, img)
	}
	if len(errs) > 0 {
		return 0, errors.Join(errs...)
	}
	for i, img := range imgs {
		if _, err := sim.Seed(img); err != nil {
			n := list.Content[i]
			errs = append(errs, fmt.Errorf("%s:%d:%d: %w", path, n.Line, n.Column, err))
		}
	}
	return len(imgs) - len(errs), errors.Join(errs...)
}

func decodeSeedImage(n *yaml.Node, start time.Time) (ecssim.Image, error) {
	var s seedImage
	// Decoding a single node does not honour KnownFields, so unknown keys
	// are checked by hand against the struct's tags.
	if n.Kind != yaml.MappingNode {
		return ecssim.Image{}, errors.New("want a mapping of image fields")
	}
	known := map[string]bool{"id": true, "region": true, "name": true, "description": true, "resource_group_id": true,
		"owner_alias": true, "status": true, "progress": true, "is_copied": true, "source_image_id": true,
		"source_region": true, "size_gb": true, "tags": true, "created": true, "age": true, "wait_for": true,
		"copy_time": true, "fail": true}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !known[k] {
			return ecssim.Image{}, fmt.Errorf("unknown key %q", k)
		}
	}
	if err := n.Decode(&s); err != nil {
		return ecssim.Image{}, err
	}
	if s.Region == "" {
		return ecssim.Image{}, errors.New("region: required")
	}
	img := ecssim.Image{ID: s.ID, Region: s.Region, Name: s.Name, Description: s.Description,
		ResourceGroupID: s.ResourceGroupID, OwnerAlias: s.OwnerAlias, Status: s.Status, Progress: s.Progress,
		IsCopied: s.IsCopied, SourceImageID: s.SourceImageID, SourceRegion: s.SourceRegion, SizeGB: s.SizeGB,
		Tags: s.Tags, Fail: s.Fail}
	var err error
	if s.Created != "" && s.Age != "" {
		return img, errors.New("created and age: give one, not both")
	}
	if s.Created != "" {
		if img.Created, err = time.Parse(time.RFC3339, s.Created); err != nil {
			return img, fmt.Errorf("created: %w", err)
		}
	}
	for _, d := range []struct {
		name string
		src  string
		dst  *time.Duration
	}{{"age", s.Age, new(time.Duration)}, {"wait_for", s.WaitFor, &img.WaitFor}, {"copy_time", s.CopyTime, &img.CopyTime}} {
		if d.src == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.src); err != nil || *d.dst < 0 {
			return img, fmt.Errorf("%s: %q is not a duration >= 0", d.name, d.src)
		}
		if d.name == "age" {
			img.Created = start.Add(-*d.dst)
		}
	}
	return img, nil
}

// selfSignedTLS makes a throwaway certificate for the listening address and
// localhost, valid for a day.
func selfSignedTLS(addr net.Addr) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "copyguard ecssim"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
		tmpl.IPAddresses = append(tmpl.IPAddresses, tcp.IP)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
	}, nil
}
