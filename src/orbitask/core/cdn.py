"""CloudFront signed URLs for attachment downloads (canned policy: one URL, one expiry).

The distribution serves this region's bucket; its cache policy must forward the
`response-content-type` and `response-content-disposition` query strings to S3 so files keep
the headers the API would send (see docs/configuration.md).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode


class CloudFrontUrls:
    """Signs CloudFront URLs with the distribution's key pair (RSA, as CloudFront requires)."""

    def __init__(self, base_url: str, key_id: str, private_key_pem: bytes) -> None:
        from botocore.signers import CloudFrontSigner
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the CloudFront private key must be an RSA key")

        def sign(message: bytes) -> bytes:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # CloudFront's canned-policy scheme

        self.base_url = base_url.rstrip("/")
        self.signer = CloudFrontSigner(key_id, sign)

    def url(self, key: str, *, expires_at: dt.datetime, content_type: str, disposition: str) -> str:
        """A signed URL for `key`, valid until `expires_at`, asking S3 for these response headers."""
        query = urlencode({"response-content-disposition": disposition, "response-content-type": content_type},
                          quote_via=quote)
        return self.signer.generate_presigned_url(f"{self.base_url}/{quote(key)}?{query}",
                                                  date_less_than=expires_at)
