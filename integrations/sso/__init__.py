"""Single sign-on: the BizGaze suite's ``/sso``, and OpenID Connect at an organization's own identity provider."""
