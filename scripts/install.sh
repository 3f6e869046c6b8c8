#!/bin/sh
# Installs wicket: picks the build for this OS, CPU and C library, checks it against the
# SHA256SUMS published beside it, and puts it in /usr/local/bin when that is writable, else
# in ~/.local/bin.
#
#   curl -fsSL https://edge.example.com/install.sh | sh
#   wget -qO- https://edge.example.com/install.sh | sh
#   curl -fsSL --cacert ca.pem https://edge.example.com/install.sh | WICKET_CA_FILE=ca.pem sh
#
# Environment:
#   WICKET_DOWNLOAD_URL  where <platform>/wicket and SHA256SUMS are
#                        (default: the edge that served this script)
#   WICKET_INSTALL_DIR   where to put wicket (default: /usr/local/bin if writable, else ~/.local/bin)
#   WICKET_CA_FILE       CA certificate to trust, for an edge with its own CA
#
# POSIX sh. Everything runs from main on the last line, so a download cut short runs nothing.
# Nothing is installed unless the file matches its SHA-256 and runs here.
set -eu

# The edge that serves this script writes the URL of its downloads here.
WICKET_EDGE_DOWNLOAD_URL=''

tmp=''

say() { printf '%s\n' "$*"; }
die() {
	printf 'wicket install: %s\n' "$*" >&2
	exit 1
}

cleanup() {
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}

is_musl() {
	# glibc answers GNU_LIBC_VERSION; musl (Alpine, Void musl) does not.
	if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then return 1; fi
	if ldd --version 2>&1 | grep -qi musl; then return 0; fi
	for f in /lib/ld-musl-*.so.1; do
		if [ -e "$f" ]; then return 0; fi
	done
	return 1
}

# Sets platform to <os>-<arch>[-musl], the folder name of the build for this machine.
detect_platform() {
	os=$(uname -s)
	arch=$(uname -m)
	case "$os" in
	Linux) os=linux ;;
	Darwin) os=darwin ;;
	MINGW* | MSYS* | CYGWIN* | Windows_NT)
		die "this script installs on Linux and macOS; on Windows, install with the PowerShell line in wicket's README"
		;;
	*) die "unsupported operating system: $os (there are builds for Linux, macOS and Windows)" ;;
	esac
	case "$arch" in
	x86_64 | amd64) arch=x64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported CPU architecture: $arch (there are builds for x86_64 and arm64)" ;;
	esac
	# An x86_64 shell under Rosetta on Apple silicon: the arm64 build runs natively.
	if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
		arch=arm64
	fi
	platform="$os-$arch"
	if [ "$os" = linux ] && is_musl; then platform="$platform-musl"; fi
}

# curl and wget, trusting WICKET_CA_FILE when it is set.
curl_ca() {
	if [ -n "${WICKET_CA_FILE:-}" ]; then curl --cacert "$WICKET_CA_FILE" "$@"; else curl "$@"; fi
}
wget_ca() {
	if [ -n "${WICKET_CA_FILE:-}" ]; then wget --ca-certificate="$WICKET_CA_FILE" "$@"; else wget "$@"; fi
}

# download URL FILE: FILE holds the body of a 200 answer, or the script ends with why not.
download() {
	if command -v curl >/dev/null 2>&1; then
		rc=0
		status=$(curl_ca -sSL -w '%{http_code}' -o "$2" "$1") || rc=$?
		if [ "$rc" -eq 60 ] || [ "$rc" -eq 77 ]; then
			die "the certificate of $1 is not trusted; for an edge with its own CA, set WICKET_CA_FILE to its CA certificate"
		fi
		[ "$rc" -eq 0 ] || die "could not download $1 (curl exit code $rc, message above)"
		if [ "$status" != 200 ]; then
			die "could not download $1: HTTP $status: $(head -c 300 "$2" 2>/dev/null | head -n 1)"
		fi
	elif command -v wget >/dev/null 2>&1; then
		if [ -n "${WICKET_CA_FILE:-}" ] && wget --help 2>&1 | grep -q BusyBox; then
			die "BusyBox wget cannot trust an extra CA; install curl, or add the CA to the system's trusted certificates"
		fi
		wget_ca -q -O "$2" "$1" || die "could not download $1 (wget failed; for an edge with its own CA, set WICKET_CA_FILE)"
	else
		die "neither curl nor wget is installed; install one of them and run this again"
	fi
}

sha256_of() {
	if command -v sha256sum >/dev/null 2>&1; then
		sha256sum "$1" | cut -d ' ' -f 1
	elif command -v shasum >/dev/null 2>&1; then
		shasum -a 256 "$1" | cut -d ' ' -f 1
	elif command -v openssl >/dev/null 2>&1; then
		openssl dgst -sha256 "$1" | sed 's/^.*= *//'
	else
		die "found no sha256sum, shasum or openssl to check the download with"
	fi
}

install_dir() {
	if [ -n "${WICKET_INSTALL_DIR:-}" ]; then
		printf '%s\n' "$WICKET_INSTALL_DIR"
	elif [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then
		printf '%s\n' /usr/local/bin
	else
		printf '%s\n' "${HOME:?HOME is not set; set WICKET_INSTALL_DIR}/.local/bin"
	fi
}

main() {
	url=${WICKET_DOWNLOAD_URL:-$WICKET_EDGE_DOWNLOAD_URL}
	url=${url%/}
	[ -n "$url" ] || die "no download URL: set WICKET_DOWNLOAD_URL to where <platform>/wicket and SHA256SUMS are"
	if [ -n "${WICKET_CA_FILE:-}" ] && [ ! -r "$WICKET_CA_FILE" ]; then
		die "WICKET_CA_FILE=$WICKET_CA_FILE is not a readable file"
	fi
	detect_platform

	dir=$(install_dir)
	mkdir -p "$dir" 2>/dev/null || die "cannot create $dir; set WICKET_INSTALL_DIR to a directory you can write to"
	[ -w "$dir" ] || die "cannot write to $dir; set WICKET_INSTALL_DIR to a directory you can write to"
	# Beside the destination, not in /tmp: the test run below needs a filesystem that allows
	# executing (/tmp often does not), and the final mv is then a rename.
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	tmp=$(mktemp -d "$dir/.wicket-install.XXXXXX") || die "cannot create a temporary folder in $dir"

	download "$url/SHA256SUMS" "$tmp/SHA256SUMS"
	expected=$(awk -v f="$platform/wicket" '$2 == f || $2 == "*" f { print tolower($1); exit }' "$tmp/SHA256SUMS")
	[ -n "$expected" ] || die "$url has no build for $platform (SHA256SUMS lists none)"

	say "downloading wicket for $platform from $url"
	download "$url/$platform/wicket" "$tmp/wicket"
	actual=$(sha256_of "$tmp/wicket" | tr 'A-F' 'a-f')
	if [ "$actual" != "$expected" ]; then
		die "checksum mismatch for $platform/wicket: expected $expected, got $actual; nothing was installed"
	fi

	chmod 755 "$tmp/wicket"
	if ! version=$("$tmp/wicket" --version 2>&1); then
		hint=''
		case "$platform" in *-musl) hint='; on Alpine, install its C++ runtime first: apk add libstdc++ libgcc' ;; esac
		die "the downloaded wicket does not run here: $version$hint"
	fi
	mv -f "$tmp/wicket" "$dir/wicket"

	say "installed $version to $dir/wicket"
	case ":${PATH:-}:" in
	*":$dir:"*) ;;
	*) say "$dir is not on your PATH; add it with: export PATH=\"$dir:\$PATH\"" ;;
	esac
	ca=''
	if [ -n "${WICKET_CA_FILE:-}" ]; then ca=" --ca-file $WICKET_CA_FILE"; fi
	say ""
	say "Next: send SSH to a host behind the edge through wicket, then use ssh as usual:"
	say "  wicket access ssh-config --hostname ssh.example.com$ca >> ~/.ssh/config"
	say "  ssh ssh.example.com"
}

main "$@"
