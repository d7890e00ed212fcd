#!/bin/sh
# Entry point of the broker image: Courier's plugin reads the JWT secret from a file
# (plugin_opt_jwt_secret_file), while the compose file hands it to every service as
# COURIER_JWT_SECRET (docker/courier.env), which the uplink and the downlink read directly. Write
# it where mosquitto.conf points, readable by this user only, then become mosquitto.
set -eu
secret_file=/run/courier/jwt.secret
conf=/etc/courier/mosquitto.conf
if [ -n "${COURIER_JWT_SECRET:-}" ]; then
  (umask 077 && printf '%s\n' "$COURIER_JWT_SECRET" >"$secret_file")
  unset COURIER_JWT_SECRET
elif [ ! -s "$secret_file" ]; then
  echo "courier-broker: no JWT secret: set COURIER_JWT_SECRET (docker/courier.env) or mount" \
    "a secret file at $secret_file" >&2
  exit 1
fi
exec mosquitto -c "$conf" "$@"
