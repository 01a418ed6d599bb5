#!/usr/bin/env bash
# The same environment as benches/up/project/devenv.toml, brought up the way the seed
# course writes it: one command after the other (k3d flags, kubectl apply/wait, docker
# build+push, kustomize | apply, rollout status). bench.sh runs it against the fakes.
#
#   sequential.sh CALICO_DIR API_PORT        (run in the project folder)
set -euo pipefail
calico=$1
api_port=$2

k3d registry create bench-registry --port 127.0.0.1:5000
# The course pushes and runs `localhost:5000/IMAGE`, but `--registry-use` alone mirrors only
# `k3d-bench-registry:5000` in the nodes (k3d pkg/client/registry.go
# RegistryGenerateK3sConfig), so the pods could not pull: add the mirror a working manual
# setup needs, as devenv writes it.
printf '%s\n' 'mirrors:' '  "localhost:5000":' '    endpoint:' '      - http://k3d-bench-registry:5000' >registries.yaml
k3d cluster create bench --agents 2 --api-port "127.0.0.1:$api_port" \
  --registry-use k3d-bench-registry:5000 \
  --registry-config registries.yaml \
  --k3s-arg "--flannel-backend=none@server:*" \
  --k3s-arg "--disable-network-policy@server:*" \
  --k3s-arg "--cluster-cidr=10.42.0.0/16@server:*" \
  --wait

# Calico with the Tigera operator.
kubectl apply --server-side -f "$calico/operator-crds.yaml"
kubectl wait --for=condition=Established --timeout=600s \
  crd/installations.operator.tigera.io crd/apiservers.operator.tigera.io crd/tigerastatuses.operator.tigera.io
kubectl apply --server-side -f "$calico/tigera-operator.yaml"
kubectl -n tigera-operator rollout status deployment/tigera-operator --timeout=600s
kubectl apply -f calico-installation.yaml
kubectl wait --for=create --timeout=600s tigerastatus/calico
kubectl wait --for=condition=Available --timeout=600s tigerastatus/calico
kubectl wait --for=condition=Ready --timeout=600s nodes --all

# Images.
for s in api web worker; do
  docker build -t "localhost:5000/bench-$s:dev" "services/$s"
  docker push "localhost:5000/bench-$s:dev"
done

# Manifests, then the rollouts.
for s in api web worker; do
  kubectl kustomize "deploy/$s" | kubectl apply -f -
done
for s in api web worker; do
  kubectl rollout status "deployment/$s" --timeout=300s
done
