package proxy

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHashPolicies(t *testing.T) {
	checkLeaks(t)
	var addrs []string
	for i := 0; i < 3; i++ {
		name := fmt.Sprint(i)
		addrs = append(addrs, backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	for _, tt := range []struct{ policy, key string }{
		{"ring_hash", "header:X-User"},
		{"maglev", "header:X-User"},
		{"ring_hash", "cookie:session"},
		{"maglev", "client_ip"},
	} {
		t.Run(tt.policy+" "+tt.key, func(t *testing.T) {
			cfg := onePool(addrs...)
			cfg.Pools[0].Policy = tt.policy
			if tt.key != "client_ip" {
				cfg.Pools[0].HashKey = tt.key
			}
			s, addr := start(t, cfg)
			c := client(t)
			send := func(user string) string {
				req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				switch tt.key {
				case "header:X-User":
					req.Header.Set("X-User", user)
				case "cookie:session":
					req.Header.Set("Cookie", "theme=dark; session="+user+"; x=y")
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			owner := map[string]string{}
			hostsUsed := map[string]bool{}
			for u := 0; u < 30; u++ {
				user := fmt.Sprint("user-", u)
				owner[user] = send(user)
				hostsUsed[owner[user]] = true
				for i := 0; i < 3; i++ {
					if got := send(user); got != owner[user] {
						t.Fatalf("%s went to %s, then to %s", user, owner[user], got)
					}
				}
			}
			if tt.key != "client_ip" && len(hostsUsed) < 2 {
				t.Errorf("30 keys all went to %v", hostsUsed)
			}
			// Drain one host: its keys move, the others' stay.
			var drained string
			for user, o := range owner {
				drained = o
				s.Drain("app", addrs[atoi(o)], true)
				if got := send(user); got == drained {
					t.Fatalf("%s still went to the drained host", user)
				}
				break
			}
			for user, o := range owner {
				if o != drained {
					if got := send(user); got != o {
						t.Errorf("%s moved from %s to %s though its host is up", user, o, got)
					}
				}
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	fmt.Sscan(s, &n)
	return n
}

func TestCookieValue(t *testing.T) {
	for _, tt := range []struct{ field, name, want string }{
		{"a=1; b=2", "b", "2"}, {"a=1;b=2", "a", "1"}, {"ab=1; b=2", "b", "2"}, {"a=1", "b", ""}, {"b=", "b", ""},
	} {
		if got := string(cookieValue([]byte(tt.field), tt.name)); got != tt.want {
			t.Errorf("cookieValue(%q, %q) = %q, want %q", tt.field, tt.name, got, tt.want)
		}
	}
}

func TestStickyCookie(t *testing.T) {
	checkLeaks(t)
	var addrs []string
	for i := 0; i < 3; i++ {
		name := fmt.Sprint(i)
		addrs = append(addrs, backend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	cfg := onePool(addrs...)
	cfg.Pools[0].Policy = "round_robin"
	cfg.Pools[0].StickyCookie = "gsticky"
	s, addr := start(t, cfg)
	c := client(t) // no cookie jar: the test carries the cookie itself
	send := func(cookie string) (body, set string) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader("x"))
		if cookie != "" {
			req.Header.Set("Cookie", "a=1; gsticky="+cookie)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("Set-Cookie")
	}
	first, set := send("")
	value, ok := strings.CutPrefix(set, "gsticky=")
	if !ok || !strings.HasSuffix(value, "; Path=/; HttpOnly") {
		t.Fatalf("Set-Cookie = %q", set)
	}
	value = strings.TrimSuffix(value, "; Path=/; HttpOnly")
	for i := 0; i < 6; i++ { // round robin would move on; the cookie holds
		body, set := send(value)
		if body != first || set != "" {
			t.Fatalf("with the cookie: went to %s (first %s), Set-Cookie %q", body, first, set)
		}
	}
	s.Drain("app", addrs[atoi(first)], true)
	body, set := send(value)
	if body == first || !strings.HasPrefix(set, "gsticky=") || strings.Contains(set, value) {
		t.Errorf("pinned host drained: went to %s, Set-Cookie %q", body, set)
	}
	if body, _ := send("bogus"); body == "" {
		t.Error("an unknown cookie value broke the request")
	}
}
