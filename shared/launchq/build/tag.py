"""Image tags as a content hash: the same inputs always name the same image.

A tag is the first :data:`TAG_LENGTH` hex digits of a sha256 over the source digest (git
commit, tarball or directory hash), the Dockerfile text, the base image reference and the
target platform. Each part is length-prefixed, so moving text from one part into the next
cannot give the same hash. A tag already in the registry is never rebuilt.
"""

from __future__ import annotations

import hashlib

TAG_LENGTH = 24
_DOMAIN = b"launchq-image-tag-v1"


def content_tag(source_digest: str, dockerfile_text: str, base_image: str, platform: str) -> str:
    """The image tag for these build inputs: :data:`TAG_LENGTH` lowercase hex digits."""
    digest = hashlib.sha256(_DOMAIN)
    for part in (source_digest, dockerfile_text, base_image, platform):
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()[:TAG_LENGTH]
