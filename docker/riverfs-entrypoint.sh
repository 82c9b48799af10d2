#!/bin/sh
# Entry point of the gateway image. Turns compose secrets (files under $SECRETS_DIR, /run/secrets) into
# RiverFS settings without putting them on the command line, then runs `riverfs` with the arguments:
#   riverfs_root_cap          -> --root-cap-file (read by RiverFS itself)
#   riverfs_admin_token       -> RIVERFS_ADMIN_TOKEN
#   riverfs_admin_reveal_token-> RIVERFS_ADMIN_REVEAL_TOKEN
#   riverfs_db_password       -> the password in RIVERFS_DB, where RIVERFS_DB holds the placeholder @PASSWORD@
# `mount` alone (the default command) mounts on $MOUNTPOINT; any other arguments are passed as they are.
set -eu
secrets="${SECRETS_DIR:-/run/secrets}"
riverfs="${CLI_PATH:-riverfs}"

secret() {
  # The first line, without its newline; empty when the secret is absent.
  if [ -r "$secrets/$1" ]; then head -n 1 "$secrets/$1" | tr -d '\r\n'; fi
}

if [ -z "${RIVERFS_ROOT_CAP_FILE:-}" ] && [ -z "${RIVERFS_ROOT_CAP:-}" ] && [ -r "$secrets/riverfs_root_cap" ]; then
  export RIVERFS_ROOT_CAP_FILE="$secrets/riverfs_root_cap"
fi
token="$(secret riverfs_admin_token)"
if [ -n "$token" ] && [ -z "${RIVERFS_ADMIN_TOKEN:-}" ]; then export RIVERFS_ADMIN_TOKEN="$token"; fi
reveal="$(secret riverfs_admin_reveal_token)"
if [ -n "$reveal" ] && [ -z "${RIVERFS_ADMIN_REVEAL_TOKEN:-}" ]; then export RIVERFS_ADMIN_REVEAL_TOKEN="$reveal"; fi
case "${RIVERFS_DB:-}" in
  *@PASSWORD@*)
    password="$(secret riverfs_db_password)"
    if [ -z "$password" ]; then
      echo "riverfs-entrypoint: RIVERFS_DB has @PASSWORD@ but the secret riverfs_db_password is missing or empty" >&2
      exit 2
    fi
    # URL-encode what a URL's userinfo cannot hold as is.
    encoded="$(node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$password")"
    RIVERFS_DB="$(printf '%s' "$RIVERFS_DB" | sed "s|@PASSWORD@|$(printf '%s' "$encoded" | sed 's/[&|\\]/\\&/g')|")"
    export RIVERFS_DB
    ;;
esac

if [ "$#" -eq 0 ] || { [ "$#" -eq 1 ] && [ "$1" = mount ]; }; then
  exec "$riverfs" mount --mkdir "${MOUNTPOINT:-/mnt/riverfs}"
fi
exec "$riverfs" "$@"
