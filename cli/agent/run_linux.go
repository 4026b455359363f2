//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/posture-dev/posture/bpf"
	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/recorder"
)

func run(ctx context.Context, s cmdutil.Streams, o Options) error {
	log := s.Logger()
	var mode bpf.AttachMode
	switch o.Attach {
	case "auto":
		mode = bpf.AttachAuto
	case "tcx":
		mode = bpf.AttachTCX
	case "clsact":
		mode = bpf.AttachClsact
	default:
		return fmt.Errorf("--attach %q: must be auto, tcx or clsact", o.Attach)
	}
	var src recorder.EndpointSource
	if o.Endpoints != "" {
		if _, err := recorder.LoadEndpointsFile(o.Endpoints); err != nil {
			return err
		}
		src = recorder.FileSource{Path: o.Endpoints, OnError: func(err error) {
			log.Error("endpoints file not reloaded", "err", err)
		}}
	} else {
		cfg, err := kubeConfig(o.Kubeconfig)
		if err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return fmt.Errorf("kubernetes client: %w", err)
		}
		src = recorder.KubeSource{
			Client: cs, Node: o.Node, InterfaceFor: recorder.InterfaceByRoute(o.NetNS),
			OnError: func(err error) { log.Warn("endpoint not observed", "err", err) },
		}
	}
	m := recorder.NewMetrics()
	rec, err := recorder.New(recorder.Config{
		Source: src, PoliciesDir: o.Policies, Out: o.Out, Stdout: s.Out,
		Interval: o.Interval, PinPath: o.PinPath, AttachMode: mode,
		FlowEntries: o.FlowEntries, Node: o.Node, NetNS: o.NetNS, Logger: log, Metrics: m,
	})
	if err != nil {
		return err
	}
	if o.MetricsAddr != "" {
		ln, err := net.Listen("tcp", o.MetricsAddr)
		if err != nil {
			rec.Close()
			return fmt.Errorf("metrics listener: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	log.Info("agent started", "pin-path", o.PinPath, "interval", o.Interval)
	runErr := rec.Run(ctx)
	return errors.Join(runErr, rec.Close())
}

func kubeConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (or give --kubeconfig): %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}
