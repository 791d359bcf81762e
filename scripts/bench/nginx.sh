# Sourced by the APT benchmarks: start_bench_nginx <work dir> <server directives> <probe path>
# serves with nginx on a free loopback port, in the foreground of a background job; sets PORT
# and NGINX_PID (the caller stops it), and returns once <probe path> answers.
start_bench_nginx() {
  local dir="$1/nginx"
  PORT=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  mkdir -p "$dir"
  cat > "$dir/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo 'user root;' )
worker_processes 1; pid $dir/nginx.pid; error_log $dir/error.log; daemon off;
events { worker_connections 256; }
http { access_log off; sendfile on; client_body_temp_path $dir/b; proxy_temp_path $dir/p;
  fastcgi_temp_path $dir/f; uwsgi_temp_path $dir/u; scgi_temp_path $dir/s;
  server { listen 127.0.0.1:$PORT; $2 } }
CONF
  /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" & NGINX_PID=$!
  for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$PORT$3" >/dev/null 2>&1 && break; sleep 0.1; done
}
