#!/bin/sh
# Installs the Debian packages pairgate needs to build, test and run its demo,
# but only those that are missing, so it is quiet and fast on a set-up machine.
set -eu

PKGS="clang llvm make gcc pkg-config libbpf-dev libxdp-dev libsodium-dev libpcap-dev \
libelf-dev zlib1g-dev bpftool iproute2 iputils-ping iperf3 tshark python3 procps libclang-rt-14-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "pairgate: missing build dependencies:$missing; run 'sudo make' (or install them)" >&2
	exit 1
fi
echo "pairgate: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends $missing >/dev/null
