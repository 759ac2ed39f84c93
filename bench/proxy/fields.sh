# Sourced by run.sh and ab.sh. Gantry adds fields to every request it forwards
# (X-Forwarded-For, -Proto and -Host, Forwarded and Via, and the client's Host goes on
# as it came) and Via to every response, as the proxy issue asks. A backend parses them
# and a client reads them: for the net/http backends here, five more fields cost 2-6 µs
# of the backend's CPU per request (docs/benchmarks.md, "Equal work"). So nginx and
# HAProxy add the same fields, and the rows compare proxies doing the same job.
# ANCHORS=bare runs them without, as every run before 2026-11-27 10:40 did.
NGINX_FIELDS='proxy_set_header Host $http_host;
			proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
			proxy_set_header X-Forwarded-Proto $scheme;
			proxy_set_header X-Forwarded-Host $http_host;
			proxy_set_header Forwarded "for=$remote_addr;host=\"$http_host\";proto=$scheme";
			proxy_set_header Via "1.1 nginx-5f3a9c2e";
			add_header Via "1.1 nginx-5f3a9c2e";'
HAPROXY_FIELDS='option forwardfor
	http-request set-header X-Forwarded-Proto %[ssl_fc,iif(https,http)]
	http-request set-header X-Forwarded-Host %[req.hdr(host)]
	http-request set-header Forwarded "for=%[src];host=\"%[req.hdr(host)]\";proto=%[ssl_fc,iif(https,http)]"
	http-request add-header Via "1.1 haproxy-5f3a9c2e"
	http-response add-header Via "1.1 haproxy-5f3a9c2e"'
if [ "${ANCHORS:-}" = bare ]; then
	NGINX_FIELDS= HAPROXY_FIELDS=
fi
