#!/usr/bin/env bash
# Create the bus's TLS certificate without cert-manager: a self-signed CA and a certificate for
# the NATS Service and every server of the StatefulSet (openssl), stored as the Secret
# spillway-nats-tls (ca.crt, tls.crt, tls.key) that the NATS servers, the services and the
# bus set-up Job mount.
#
#   k8s/scripts/nats-cert.sh               # before or after `kubectl apply -k k8s/overlays/production`
#   DAYS=825 NAMESPACE=spillway k8s/scripts/nats-cert.sh
#
# Rerun it to rotate, then restart NATS and the services
# (`kubectl -n spillway rollout restart statefulset/spillway-nats deployment`).
set -euo pipefail

NAMESPACE="${NAMESPACE:-spillway}"
SERVICE="${SERVICE:-spillway-nats}"
SECRET="${SECRET:-spillway-nats-tls}"
DAYS="${DAYS:-365}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

openssl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=spillway-nats-ca" \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=${SERVICE}.${NAMESPACE}.svc" \
  -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' \
  "DNS:${SERVICE}.${NAMESPACE}.svc,DNS:${SERVICE}.${NAMESPACE}.svc.cluster.local,DNS:*.${SERVICE}-headless.${NAMESPACE}.svc,DNS:*.${SERVICE}-headless.${NAMESPACE}.svc.cluster.local" \
  > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile ext.cnf -out tls.crt 2>/dev/null

kubectl -n "$NAMESPACE" create secret generic "$SECRET" --from-file=ca.crt --from-file=tls.crt --from-file=tls.key \
  --dry-run=client -o yaml | kubectl apply -f -
echo "secret ${NAMESPACE}/${SECRET} written"
