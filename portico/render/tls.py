"""TLS words of ``bind`` and ``server`` lines, and the PEM files they name.

Files travel with the configuration (``RenderedConfig.files``) and land in the amphora's
``certs/`` directory; each is named by the hash of its content, so a renewed certificate
is a new file and an unchanged one keeps its name (and the configuration its text).
A terminated listener's certificates go into one crt-list: its first line is the default
certificate, the others are chosen by SNI from their names, as in Octavia.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from portico.domain.desired import CertificateBundle, ListenerSpec, PoolSpec
from portico.render.capabilities import RenderTarget
from portico.render.errors import RenderError
from portico.render.quoting import word
from portico.wire.capabilities import Capability

# Octavia's names, in protocol order, and haproxy's for ssl-min-ver/ssl-max-ver.
VERSIONS = {
    "SSLv3": "SSLv3",
    "TLSv1": "TLSv1.0",
    "TLSv1.1": "TLSv1.1",
    "TLSv1.2": "TLSv1.2",
    "TLSv1.3": "TLSv1.3",
}


class TlsFiles:
    """Collects the files a configuration names; each file is named by its content hash."""

    def __init__(self, certificates: Mapping[str, CertificateBundle]) -> None:
        self._bundles = certificates
        self._files: dict[str, str] = {}

    def bundle(self, ref: str) -> CertificateBundle:
        found = self._bundles.get(ref)
        if found is None:
            raise RenderError(f"TLS container {ref} could not be found in the certificate store")
        return found

    def add(self, content: str, suffix: str) -> str:
        name = hashlib.sha256(content.encode()).hexdigest()[:32] + suffix
        self._files[name] = content
        return f"certs/{name}"

    def keypair(self, ref: str) -> str:
        """A combined PEM (certificate, intermediates, key) as haproxy's ``crt`` wants it."""
        bundle = self.bundle(ref)
        parts = [bundle.certificate.strip()]
        if bundle.intermediates:
            parts.append(bundle.intermediates.strip())
        if bundle.private_key:
            parts.append(bundle.private_key.strip())
        return self.add("\n".join(parts) + "\n", ".pem")

    def ca(self, ref: str) -> str:
        return self.add(self.bundle(ref).certificate.strip() + "\n", ".ca.pem")

    def crt_list(self, default_ref: str, sni_refs: tuple[str, ...]) -> str:
        paths = [self.keypair(default_ref)]
        paths += [p for p in (self.keypair(ref) for ref in sni_refs) if p not in paths]
        return self.add("".join(f"{path}\n" for path in paths), ".crt-list")

    def items(self) -> tuple[tuple[str, str], ...]:
        return tuple(sorted(self._files.items()))


def version_words(owner: str, versions: tuple[str, ...], target: RenderTarget) -> list[str]:
    """``ssl-min-ver``/``ssl-max-ver`` for the requested versions.

    OpenSSL enables one contiguous range of versions, so a set with a hole (TLSv1 and
    TLSv1.2 without TLSv1.1) cannot be honoured: it is refused rather than widened. An
    amphora without TLS 1.3 serves the rest of the range.
    """
    order = list(VERSIONS)
    chosen = sorted((v for v in set(versions) if v in VERSIONS), key=order.index)
    if not chosen:
        return []
    low, high = order.index(chosen[0]), order.index(chosen[-1])
    if len(chosen) != high - low + 1:
        raise RenderError(
            f"{owner}: TLS versions {', '.join(chosen)} leave a gap; "
            "only a contiguous range of versions can be enabled"
        )
    if chosen[-1] == "TLSv1.3" and not target.has(Capability.TLS13):
        if len(chosen) == 1:
            raise RenderError(f"{owner}: this amphora's haproxy cannot serve TLS 1.3")
        chosen = chosen[:-1]
    return [f"ssl-min-ver {VERSIONS[chosen[0]]}", f"ssl-max-ver {VERSIONS[chosen[-1]]}"]


def cipher_words(ciphers: str | None, target: RenderTarget) -> list[str]:
    """``ciphers`` (TLS 1.2 and older) and ``ciphersuites`` (TLS 1.3, names ``TLS_*``).

    Octavia takes one OpenSSL cipher string for both; OpenSSL configures TLS 1.3 suites
    separately, so the names are split between the two keywords.
    """
    if not ciphers:
        return []
    names = [name for name in ciphers.split(":") if name]
    legacy = [name for name in names if not name.startswith("TLS_")]
    suites = [name for name in names if name.startswith("TLS_")]
    words = [f"ciphers {word(':'.join(legacy))}"] if legacy else []
    if suites and target.has(Capability.TLS13):
        words.append(f"ciphersuites {word(':'.join(suites))}")
    return words


def alpn_words(protocols: tuple[str, ...], target: RenderTarget) -> list[str]:
    """``alpn``; without HTTP/2 support h2 is left out (clients fall back to HTTP/1.1)."""
    offered = [p for p in protocols if p != "h2" or target.has(Capability.HTTP2)]
    return [f"alpn {word(','.join(offered))}"] if offered else []


def bind_words(listener: ListenerSpec, target: RenderTarget, files: TlsFiles) -> list[str]:
    """The TLS words of a TERMINATED_HTTPS listener's ``bind``."""
    owner = f"listener {listener.id}"
    if not listener.default_tls_container_ref:
        raise RenderError(f"{owner}: TERMINATED_HTTPS needs a certificate")
    crt_list = files.crt_list(listener.default_tls_container_ref, listener.sni_container_refs)
    words = ["ssl", f"crt-list {crt_list}"]
    words += version_words(owner, listener.tls_versions, target)
    words += cipher_words(listener.tls_ciphers, target)
    words += alpn_words(listener.alpn_protocols, target)
    if listener.client_authentication != "NONE" and listener.client_ca_tls_container_ref:
        verify = "required" if listener.client_authentication == "MANDATORY" else "optional"
        words.append(f"verify {verify} ca-file {files.ca(listener.client_ca_tls_container_ref)}")
        if listener.client_crl_container_ref:
            words.append(f"crl-file {files.ca(listener.client_crl_container_ref)}")
    return words


def server_words(
    listener: ListenerSpec, pool: PoolSpec, target: RenderTarget, files: TlsFiles
) -> list[str]:
    """Re-encryption towards members: ``ssl`` with verification when a CA is given."""
    if not pool.tls_enabled:
        return []
    words = ["ssl"]
    if pool.ca_tls_container_ref:
        words.append(f"verify required ca-file {files.ca(pool.ca_tls_container_ref)}")
        if pool.crl_container_ref:
            words.append(f"crl-file {files.ca(pool.crl_container_ref)}")
    else:
        words.append("verify none")
    if listener.protocol == "TERMINATED_HTTPS":
        # Pass the client's SNI on, so a member serving several names picks the right one.
        words.append("sni ssl_fc_sni")
    if pool.tls_container_ref:
        words.append(f"crt {files.keypair(pool.tls_container_ref)}")
    words += version_words(f"pool {pool.id}", pool.tls_versions, target)
    words += cipher_words(pool.tls_ciphers, target)
    words += alpn_words(pool.alpn_protocols, target)
    return words
