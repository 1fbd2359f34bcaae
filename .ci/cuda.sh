#!/usr/bin/env bash
# CI, CUDA part (called from .ci/run after make test). No GPU needed:
#   1. installs Debian 12's CUDA 11.8 toolkit (non-free) unless nvcc 11.8 is
#      already there;
#   2. builds and vets everything with -tags cuda;
#   3. checks that kernels/gen_kernels.fatbin matches kernels/*.cu;
#   4. builds the GPU bundle (gpu-bundle/, under 64 MiB);
#   5. checks that a build without tags links no CUDA library, and that the
#      cuda build links libcuda but not libcublas (loaded with dlopen).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# 1. The toolkit.
if command -v nvcc >/dev/null 2>&1 && nvcc --version | grep -q 'release 11\.8'; then
	echo "cuda.sh: $(nvcc --version | grep release)"
else
	sudo=
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
	# CUDA 11.8 is in Debian 12's non-free component, which is off by
	# default: add it (same mirror and key as the main sources) if no
	# source has it.
	if ! grep -Eqs '(^|[[:space:]])non-free([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/*; then
		main=/etc/apt/sources.list.d/debian.sources
		uri=$(awk '/^URIs:/ { print $2; exit }' "$main" 2>/dev/null || true)
		key=$(awk '/^Signed-By:/ { print $2; exit }' "$main" 2>/dev/null || true)
		$sudo tee /etc/apt/sources.list.d/gotrain-nonfree.sources >/dev/null <<EOF
Types: deb
URIs: ${uri:-http://deb.debian.org/debian}
Suites: bookworm bookworm-updates
Components: contrib non-free non-free-firmware
Signed-By: ${key:-/usr/share/keyrings/debian-archive-keyring.gpg}
EOF
	fi
	$sudo apt-get update -q
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		nvidia-cuda-toolkit nvidia-cuda-dev
	nvcc --version | grep 'release 11\.8' || { echo "cuda.sh: nvcc 11.8 is not on PATH after the install" >&2; exit 1; }
fi

# 2. Build and vet with the real driver. (gorgonia.org/cu exits at init
# without a GPU, so nothing built here is run here.)
go build -tags cuda ./...
go vet -tags cuda ./...

# 3-4. The fatbin and the bundle (cuda.mk).
make check-fatbin
make gpu-bundle

# 5. Linking.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/gotrain" ./cmd/gotrain
if ldd "$tmp/gotrain" 2>/dev/null | grep -E 'libcuda|libcublas|libcudart'; then
	echo "cuda.sh: a build without tags links a CUDA library (above): every import of gorgonia.org/cu and every cgo file that needs CUDA must carry the cuda build tag" >&2
	exit 1
fi
echo "cuda.sh: the untagged gotrain links no CUDA library"
gunzip -c gpu-bundle/bin/gotrain.gz >"$tmp/gotrain-cuda"
chmod +x "$tmp/gotrain-cuda"
deps=$(ldd "$tmp/gotrain-cuda")
echo "$deps" | grep -q 'libcuda\.so\.1' || { echo "cuda.sh: the -tags cuda gotrain does not link libcuda.so.1:" >&2; echo "$deps" >&2; exit 1; }
if echo "$deps" | grep -q libcublas; then
	echo "cuda.sh: the -tags cuda gotrain links libcublas; it must load it with dlopen (one binary for cuBLAS 11, 12 and 13)" >&2
	exit 1
fi
for z in gpu-bundle/bin/*.gz; do gunzip -c "$z" >"$tmp/$(basename "$z" .gz)"; done
glibc=$( (objdump -T "$tmp"/* 2>/dev/null || true) | grep -o "GLIBC_[0-9.]*" | sort -uV | tail -n 1)
echo "cuda.sh: the bundle needs libcuda.so.1 and ${glibc:-an unknown glibc} on the GPU host ($(du -sh gpu-bundle | cut -f1))"
