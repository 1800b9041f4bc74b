"""Single sign-on with the company's identity provider over OpenID Connect (docs/sso.md).

mozilla-django-oidc runs the authorization code flow (state, nonce, PKCE); this package supplies the
provider's endpoints from its discovery document, verifies the ID token itself (signature against
the provider's JWKS, issuer, audience, expiry, nonce), finds the user by issuer and subject, keeps
the user's name and email and the roles their IdP groups grant, and ends the IdP session on logout.

  config.py    the provider's endpoints (discovery, cached) and whether SSO is configured
  models.py    SsoIdentity: (issuer, subject) -> user
  services.py  the writes: provision or update a user, sync roles from groups, link an account
  backend.py   the authentication backends: OpenID Connect, and passwords that can be switched off
  views.py     sign-in start and callback, the login page, logout (RP-initiated), the password guard
  checks.py    system checks for the settings
"""
