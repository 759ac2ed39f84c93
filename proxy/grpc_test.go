package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// gRPC through the proxy: a real grpc-go client → the proxy's HTTP/2 listener → an h2
// pool → a real grpc-go server. Everything the calls need must pass end to end and at
// once: messages both ways as they are sent, and the status in trailers.

// grpcBackend serves s on a loopback port (h2c, or TLS with a certificate from ca).
func grpcBackend(t *testing.T, ca *testCA, register func(*grpc.Server), opts ...grpc.ServerOption) string {
	t.Helper()
	if ca != nil {
		pair, _ := ca.issue("127.0.0.1", false)
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}})))
	}
	s := grpc.NewServer(opts...)
	register(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return ln.Addr().String()
}

// grpcDial connects a grpc-go client to the proxy at addr: h2c, or TLS trusting roots.
func grpcDial(t *testing.T, addr string, tc *tls.Config, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	cc, err := grpc.NewClient("passthrough:///"+addr, append(opts, grpc.WithTransportCredentials(creds))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func grpcPool(addr string, tc *UpstreamTLS) Config {
	return Config{Pools: []PoolConfig{{Name: "grpc", Protocol: "h2", Policy: "least_conn", TLS: tc,
		Hosts: []HostConfig{{Addr: addr}}}}}
}

func TestGRPCHealthThroughProxy(t *testing.T) {
	checkLeaks(t)
	hs := health.NewServer()
	hs.SetServingStatus("shop", healthpb.HealthCheckResponse_SERVING)
	up := grpcBackend(t, nil, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, hs) })
	_, paddr := start(t, grpcPool(up, nil))
	client := healthpb.NewHealthClient(grpcDial(t, paddr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// Unary: an answer, and an error status that arrives in trailers (a trailers-only
	// response: HEADERS with grpc-status and END_STREAM).
	resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "shop"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check: %v %v", resp, err)
	}
	_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"})
	if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "unknown service" {
		t.Errorf("Check of an unknown service: %v; want NotFound \"unknown service\"", err)
	}

	// Server streaming: each status change reaches the client while the stream stays open.
	w, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []healthpb.HealthCheckResponse_ServingStatus{
		healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING,
	} {
		if i == 1 {
			hs.SetServingStatus("shop", healthpb.HealthCheckResponse_NOT_SERVING)
		} else if i == 2 {
			hs.SetServingStatus("shop", healthpb.HealthCheckResponse_SERVING)
		}
		m, err := w.Recv()
		if err != nil || m.Status != want {
			t.Fatalf("Watch message %d: %v %v; want %v", i, m, err, want)
		}
	}
	hs.Shutdown() // ends the Watch streams
}

// rawCodec passes messages as the bytes they are, so a service needs no protoc.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

// echoService is a hand-registered gRPC service: Echo (unary) answers with the message or
// fails on "fail"; Chat (bidirectional) answers each message at once in upper case, fails
// on "boom" after the answers sent so far, and at the end sets a trailer with the count.
type echoService struct {
	cancelled chan struct{} // closed when a Chat stream sees its client cancel
	once      sync.Once
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: "gantry.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		var in []byte
		if err := dec(&in); err != nil {
			return nil, err
		}
		if string(in) == "fail" {
			return nil, status.Error(codes.FailedPrecondition, "no luck: précondition")
		}
		grpc.SetHeader(ctx, metadata.Pairs("x-seen", "1"))
		return &in, nil
	}}},
	Streams: []grpc.StreamDesc{{StreamName: "Chat", ServerStreams: true, ClientStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error {
			n := 0
			for {
				var in []byte
				err := stream.RecvMsg(&in)
				if errors.Is(err, io.EOF) {
					stream.SetTrailer(metadata.Pairs("x-count", fmt.Sprint(n)))
					return nil
				}
				if err != nil {
					if s := srv.(*echoService); status.Code(err) == codes.Canceled {
						s.once.Do(func() { close(s.cancelled) })
					}
					return err
				}
				if string(in) == "boom" {
					return status.Error(codes.Aborted, "boom after "+fmt.Sprint(n))
				}
				out := bytes.ToUpper(in)
				if err := stream.SendMsg(&out); err != nil {
					return err
				}
				n++
			}
		}}},
}

func TestGRPCUnaryAndStreamsThroughProxy(t *testing.T) {
	checkLeaks(t)
	svc := &echoService{cancelled: make(chan struct{})}
	ca := newTestCA(t)
	for _, tt := range []struct {
		name string
		tls  bool // TLS on both sides: client → proxy (ALPN h2) and proxy → backend
	}{{"h2c", false}, {"TLS", true}} {
		t.Run(tt.name, func(t *testing.T) {
			var backendCA *testCA
			var upTLS *UpstreamTLS
			if tt.tls {
				backendCA, upTLS = ca, &UpstreamTLS{CAFile: ca.file}
			}
			up := grpcBackend(t, backendCA, func(s *grpc.Server) { s.RegisterService(&echoDesc, svc) },
				grpc.ForceServerCodec(rawCodec{}))
			cfg := grpcPool(up, upTLS)
			var clientTLS *tls.Config
			if tt.tls {
				_, cc := ca.issue("grpc.test", false)
				cfg.TLS = []CertConfig{cc}
				clientTLS = &tls.Config{RootCAs: ca.pool, ServerName: "grpc.test"}
			}
			_, paddr := start(t, cfg)
			cc := grpcDial(t, paddr, clientTLS, grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			// Unary: the answer with its header metadata; an error status with its
			// message (percent-encoded in grpc-message) intact.
			in, out := []byte("hi"), []byte(nil)
			var hdr metadata.MD
			if err := cc.Invoke(ctx, "/gantry.test.Echo/Echo", &in, &out, grpc.Header(&hdr)); err != nil || string(out) != "hi" {
				t.Fatalf("Echo: %q %v", out, err)
			}
			if got := hdr.Get("x-seen"); len(got) != 1 || got[0] != "1" {
				t.Errorf("header metadata %v", hdr)
			}
			in = []byte("fail")
			err := cc.Invoke(ctx, "/gantry.test.Echo/Echo", &in, &out)
			if st := status.Convert(err); st.Code() != codes.FailedPrecondition || st.Message() != "no luck: précondition" {
				t.Errorf("Echo(fail): %v", err)
			}

			// Bidirectional: each answer arrives before the next message is sent (nothing
			// is buffered either way), and the trailer metadata arrives at the end.
			desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
			stream, err := cc.NewStream(ctx, desc, "/gantry.test.Echo/Chat")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"one", "two", "three"} {
				msg := []byte(m)
				if err := stream.SendMsg(&msg); err != nil {
					t.Fatal(err)
				}
				var got []byte
				if err := stream.RecvMsg(&got); err != nil || string(got) != string(bytes.ToUpper(msg)) {
					t.Fatalf("Chat %s: %q %v", m, got, err)
				}
			}
			stream.CloseSend()
			var extra []byte
			if err := stream.RecvMsg(&extra); err != io.EOF {
				t.Fatalf("Chat end: %v; want io.EOF (status OK)", err)
			}
			if got := stream.Trailer().Get("x-count"); len(got) != 1 || got[0] != "3" {
				t.Errorf("trailer metadata %v; want x-count 3", stream.Trailer())
			}

			// An error status after messages: it comes in real trailers after DATA.
			stream, err = cc.NewStream(ctx, desc, "/gantry.test.Echo/Chat")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range []string{"a", "boom"} {
				msg := []byte(m)
				stream.SendMsg(&msg)
			}
			var got []byte
			if err := stream.RecvMsg(&got); err != nil || string(got) != "A" {
				t.Fatalf("Chat a: %q %v", got, err)
			}
			err = stream.RecvMsg(&got)
			if st := status.Convert(err); st.Code() != codes.Aborted || st.Message() != "boom after 1" {
				t.Errorf("Chat boom: %v; want Aborted \"boom after 1\"", err)
			}
		})
	}

	// A client that cancels its stream cancels the backend's stream too.
	up := grpcBackend(t, nil, func(s *grpc.Server) { s.RegisterService(&echoDesc, svc) }, grpc.ForceServerCodec(rawCodec{}))
	srv, paddr := start(t, grpcPool(up, nil))
	cc := grpcDial(t, paddr, nil, grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/gantry.test.Echo/Chat")
	if err != nil {
		t.Fatal(err)
	}
	msg, got := []byte("x"), []byte(nil)
	stream.SendMsg(&msg)
	if err := stream.RecvMsg(&got); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-svc.cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the backend's stream was not cancelled when the client cancelled")
	}
	// The client's cancel is not the host's failure: it must not count toward ejection.
	u := srv.table.Load().pools[0].all[0]
	deadline := time.Now().Add(5 * time.Second)
	for u.inflight.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := u.failures.Load(); n != 0 || u.inflight.Load() != 0 {
		t.Errorf("after a client's cancel: %d failures counted against the host, %d in flight", n, u.inflight.Load())
	}
}
