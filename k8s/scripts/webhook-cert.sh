#!/usr/bin/env bash
# Create the admission webhook's serving certificate without cert-manager:
# a self-signed CA and a server certificate for spillway-admission.spillway.svc (openssl),
# stored as the Secret spillway-admission-tls, and the CA patched into the webhook's caBundle.
#
#   k8s/scripts/webhook-cert.sh            # after `kubectl apply -k k8s/overlays/production`
#   DAYS=825 NAMESPACE=spillway k8s/scripts/webhook-cert.sh
#
# Rerun it to rotate (then `kubectl -n spillway rollout restart deployment/spillway-admission`).
set -euo pipefail

NAMESPACE="${NAMESPACE:-spillway}"
SERVICE="${SERVICE:-spillway-admission}"
SECRET="${SECRET:-spillway-admission-tls}"
WEBHOOK="${WEBHOOK:-spillway-admission}"
DAYS="${DAYS:-365}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

openssl req -x509 -newkey rsa:2048 -nodes -days "$DAYS" -subj "/CN=spillway-webhook-ca" \
  -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=${SERVICE}.${NAMESPACE}.svc" \
  -keyout tls.key -out tls.csr 2>/dev/null
printf 'subjectAltName=DNS:%s.%s.svc,DNS:%s.%s.svc.cluster.local\nextendedKeyUsage=serverAuth\n' \
  "$SERVICE" "$NAMESPACE" "$SERVICE" "$NAMESPACE" > ext.cnf
openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "$DAYS" \
  -extfile ext.cnf -out tls.crt 2>/dev/null

kubectl -n "$NAMESPACE" create secret tls "$SECRET" --cert=tls.crt --key=tls.key \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl patch mutatingwebhookconfiguration "$WEBHOOK" --type=json \
  -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$(base64 < ca.crt | tr -d '\n')\"}]"
echo "secret ${NAMESPACE}/${SECRET} written; caBundle of ${WEBHOOK} patched"
