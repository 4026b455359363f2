package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// BinDir is where hack/build-k8s.sh puts etcd, kube-apiserver and the
// Cilium CRDs: $POSTURE_K8S_BINS, else .cache/k8s under the module root
// found from dir upwards (the working directory when dir is empty).
func BinDir(dir string) string {
	if d := os.Getenv("POSTURE_K8S_BINS"); d != "" {
		return d
	}
	if dir == "" {
		dir, _ = os.Getwd()
	}
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil &&
			bytes.Contains(b, []byte("module github.com/posture-dev/posture\n")) {
			return filepath.Join(d, ".cache", "k8s")
		}
		if filepath.Dir(d) == d {
			return filepath.Join(dir, ".cache", "k8s")
		}
	}
}

// Missing names what is absent from binDir, or returns "" when everything
// the harness needs is there.
func Missing(binDir string) string {
	var miss []string
	for _, f := range []string{"etcd", "kube-apiserver", "crds/ciliumnetworkpolicies.yaml"} {
		if _, err := os.Stat(filepath.Join(binDir, f)); err != nil {
			miss = append(miss, f)
		}
	}
	if len(miss) == 0 {
		return ""
	}
	return fmt.Sprintf("%s missing from %s (run `make k8s-bins`)", strings.Join(miss, ", "), binDir)
}

// Options tune Start.
type Options struct {
	BinDir string    // default BinDir("")
	Log    io.Writer // progress lines; nil discards
}

// Env is a running etcd + kube-apiserver pair on loopback.
type Env struct {
	Config *rest.Config // cluster-admin (system:masters) client config
	Dir    string       // temporary directory: certificates, data, logs

	binDir     string
	log        io.Writer
	etcdURL    string
	apiPort    int
	etcd       *exec.Cmd
	apiserver  *exec.Cmd
	etcdDone   chan struct{}
	serverDone chan struct{}
	pki        *pki
}

// Launch runs etcd and kube-apiserver in a fresh temporary directory and
// waits until the API server is ready. Stop tears both down.
func Launch(ctx context.Context, opts Options) (*Env, error) {
	binDir := opts.BinDir
	if binDir == "" {
		binDir = BinDir("")
	}
	if m := Missing(binDir); m != "" {
		return nil, errors.New(m)
	}
	dir, err := os.MkdirTemp("", "posture-kube-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	e := &Env{Dir: dir, binDir: binDir, log: opts.Log}
	if err := e.start(ctx); err != nil {
		e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) logf(format string, args ...any) {
	if e.log != nil {
		fmt.Fprintf(e.log, format+"\n", args...)
	}
}

func (e *Env) start(ctx context.Context) error {
	p, err := newPKI()
	if err != nil {
		return err
	}
	e.pki = p
	if err := p.write(e.Dir); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	e.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	e.apiPort = ports[2]
	if err := e.startEtcd(peerURL); err != nil {
		return err
	}
	if err := e.StartAPIServer(ctx); err != nil {
		return err
	}
	cfg := &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(e.apiPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   p.caCert,
			CertData: p.clientCert,
			KeyData:  p.clientKey,
		},
		// Tests and benchmarks apply hundreds of objects; client-side
		// throttling would measure the limiter, not the server.
		QPS:   2000,
		Burst: 4000,
		// Cilium's CRD schemas draw format warnings from the server.
		WarningHandler: rest.NoWarnings{},
	}
	e.Config = cfg
	return nil
}

func (e *Env) startEtcd(peerURL string) error {
	logf, err := os.Create(filepath.Join(e.Dir, "etcd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(e.binDir, "etcd"),
		"--name=default",
		"--data-dir="+filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls="+e.etcdURL,
		"--advertise-client-urls="+e.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// Throwaway data: durability across a host crash buys nothing.
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	e.etcd = cmd
	e.etcdDone = make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(e.etcdDone) }()
	e.logf("kubetest: etcd pid %d on %s", cmd.Process.Pid, e.etcdURL)
	return nil
}

// StartAPIServer (re)starts kube-apiserver on the same port and etcd, and
// waits for /readyz. Tests call it after StopAPIServer to simulate an
// outage.
func (e *Env) StartAPIServer(ctx context.Context) error {
	if e.apiserver != nil {
		return errors.New("kube-apiserver already running")
	}
	logf, err := os.OpenFile(filepath.Join(e.Dir, "kube-apiserver.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	d := e.Dir
	cmd := exec.Command(filepath.Join(e.binDir, "kube-apiserver"),
		"--etcd-servers="+e.etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(e.apiPort),
		"--tls-cert-file="+filepath.Join(d, "apiserver.crt"),
		"--tls-private-key-file="+filepath.Join(d, "apiserver.key"),
		"--client-ca-file="+filepath.Join(d, "ca.crt"),
		"--service-account-key-file="+filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(d, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--cert-dir="+filepath.Join(d, "certs"),
		"--v=0",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	e.apiserver = cmd
	done := make(chan struct{})
	e.serverDone = done
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	e.logf("kubetest: kube-apiserver pid %d on https://127.0.0.1:%d", cmd.Process.Pid, e.apiPort)
	return e.waitReady(ctx, done)
}

func (e *Env) waitReady(ctx context.Context, done <-chan struct{}) error {
	cfg := &rest.Config{
		Host: "https://127.0.0.1:" + strconv.Itoa(e.apiPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAData: e.pki.caCert, CertData: e.pki.clientCert, KeyData: e.pki.clientKey,
		},
		Timeout: 2 * time.Second,
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	deadline := time.After(90 * time.Second)
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			body := make([]byte, 512)
			n, _ := resp.Body.Read(body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				e.logf("kubetest: kube-apiserver ready after %s", time.Since(start).Round(10*time.Millisecond))
				return nil
			}
			last = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body[:n]))
		} else {
			last = err.Error()
		}
		select {
		case <-done:
			return fmt.Errorf("kube-apiserver exited before ready; log tail:\n%s", e.LogTail("kube-apiserver.log", 30))
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("kube-apiserver not ready after 90s (last: %s); log tail:\n%s", last, e.LogTail("kube-apiserver.log", 30))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// StopAPIServer kills kube-apiserver (etcd keeps the data), as an outage
// would.
func (e *Env) StopAPIServer() {
	if e.apiserver == nil {
		return
	}
	_ = e.apiserver.Process.Signal(syscall.SIGKILL)
	<-e.serverDone
	e.apiserver = nil
}

// Stop tears everything down and removes the temporary directory.
func (e *Env) Stop() {
	e.StopAPIServer()
	if e.etcd != nil {
		_ = e.etcd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.etcdDone:
		case <-time.After(5 * time.Second):
			_ = e.etcd.Process.Kill()
			<-e.etcdDone
		}
		e.etcd = nil
	}
	if e.Dir != "" {
		_ = os.RemoveAll(e.Dir)
	}
}

// LogTail returns the last n lines of one of the server logs.
func (e *Env) LogTail(name string, n int) string {
	b, _ := os.ReadFile(filepath.Join(e.Dir, name))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Kubeconfig writes a kubeconfig for the admin client to path, with the
// context name given, so CLI tests can use --kubeconfig/--context.
func (e *Env) Kubeconfig(path, context string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: e.Config.Host, CertificateAuthorityData: e.pki.caCert}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: e.pki.clientCert, ClientKeyData: e.pki.clientKey}
	cfg.Contexts[context] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = context
	return clientcmd.WriteToFile(*cfg, path)
}

// As returns a client config impersonating user (and groups), for RBAC
// tests: the admin certificate may impersonate anyone.
func (e *Env) As(user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(e.Config)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
