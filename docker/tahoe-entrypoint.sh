#!/bin/sh
# Entry point of the Tahoe node image: `tahoe-entrypoint introducer|storage|client`.
# Creates the node on first start (in $TAHOE_NODE_DIR), then runs it in the foreground.
# - introducer: listens on $TAHOE_PORT (3458) and copies its furl to $TAHOE_FURL_DIR/introducer.furl;
# - storage:    waits for that furl, listens on $TAHOE_PORT (3457), announces $TAHOE_HOSTNAME:$TAHOE_PORT;
# - client:     waits for that furl, serves the web API on 0.0.0.0:$TAHOE_WEB_PORT (3456) for the gateway.
# Share settings: $TAHOE_SHARES_NEEDED/HAPPY/TOTAL (2/3/3, the gateway's local-grid defaults). Node ports listen on
# every interface of the container, or only on $TAHOE_LISTEN_INTERFACE when set (127.0.0.1 when run on a host).
set -eu
role="${1:-storage}"
node="${TAHOE_NODE_DIR:-/var/lib/tahoe/node}"
furl_dir="${TAHOE_FURL_DIR:-/run/tahoe-furl}"
host="${TAHOE_HOSTNAME:-$(hostname)}"
needed="${TAHOE_SHARES_NEEDED:-2}"
happy="${TAHOE_SHARES_HAPPY:-3}"
total="${TAHOE_SHARES_TOTAL:-3}"
tahoe="${TAHOE_BIN:-tahoe}"
umask 077

fail() {
  echo "tahoe-entrypoint: $*" >&2
  exit 2
}

wait_for_furl() {
  tries="${TAHOE_FURL_WAIT:-120}"
  while [ ! -s "$furl_dir/introducer.furl" ]; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || fail "no introducer furl in $furl_dir after ${TAHOE_FURL_WAIT:-120} s"
    sleep 1
  done
  cat "$furl_dir/introducer.furl"
}

listen_suffix="${TAHOE_LISTEN_INTERFACE:+:interface=$TAHOE_LISTEN_INTERFACE}"
shares="--shares-needed=$needed --shares-happy=$happy --shares-total=$total"
if [ ! -f "$node/tahoe.cfg" ]; then
  # A directory without tahoe.cfg was cut short mid-creation and holds nothing: `tahoe create-*` wants it empty.
  rm -rf "$node"
  case "$role" in
    introducer)
      port="${TAHOE_PORT:-3458}"
      "$tahoe" create-introducer --port="tcp:$port$listen_suffix" --location="tcp:$host:$port" "$node"
      ;;
    storage)
      port="${TAHOE_PORT:-3457}"
      # shellcheck disable=SC2086
      "$tahoe" create-node --nickname="$host" --introducer="$(wait_for_furl)" --port="tcp:$port$listen_suffix" \
        --location="tcp:$host:$port" --webport=none $shares "$node"
      # create-node reserves 1 GB; a storage server then refuses shares on a small disk. Set it explicitly.
      sed -i "s/^reserved_space = .*/reserved_space = ${TAHOE_RESERVED_SPACE:-1G}/" "$node/tahoe.cfg"
      ;;
    client)
      # shellcheck disable=SC2086
      "$tahoe" create-client --nickname="$host" --introducer="$(wait_for_furl)" \
        --webport="tcp:${TAHOE_WEB_PORT:-3456}:interface=${TAHOE_WEB_INTERFACE:-0.0.0.0}" $shares "$node"
      ;;
    *)
      fail "unknown role \"$role\": introducer, storage or client"
      ;;
  esac
fi
echo "$role" >"$node/riverfs-role"
if [ "$role" = introducer ]; then
  # The furl appears once the introducer has started: publish it from the background, giving up if the node
  # (this shell's pid, after the exec below) ends first.
  node_pid=$$
  (
    while [ ! -s "$node/private/introducer.furl" ]; do
      kill -0 "$node_pid" 2>/dev/null || exit 0
      sleep 1
    done
    cp "$node/private/introducer.furl" "$furl_dir/introducer.furl.tmp"
    mv "$furl_dir/introducer.furl.tmp" "$furl_dir/introducer.furl"
  ) &
fi
# --allow-stdin-close: containers run with stdin closed, and since 1.19 `tahoe run` would otherwise exit.
exec "$tahoe" run --allow-stdin-close "$node"
