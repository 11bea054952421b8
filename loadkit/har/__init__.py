"""``loadkit init --from-har``: a browser recording (HAR 1.2) turned into a scenario that replays.

One journey per recording. Every request to the recorded site becomes a step; gaps between requests
become think times; requests to other hosts, analytics beacons and static assets are left out (and
listed in the file's header). Every value the recording shows flowing from a response into a later
request (a link followed, a form's action, a hidden field, a JSON field, an id in a path) becomes an
``extract`` anchored on its context in the page that held it (the link's text, the form's id, the field's
``name``, the JSON path) and a ``{var}`` (``{+var}`` for a whole link, RFC 6570's reserved expansion);
each extractor is run on the recorded response and refused, with a note, unless it finds exactly the
recorded value. Secrets and personal data (``Authorization``, cookies the recording did not receive, card
numbers, e-mail addresses, tokens, passwords) become ``${ENV_VAR}`` references and are never copied.

The stages, one module each: ``recording`` (the HAR file and its entries), ``choosing`` (which requests
become steps), ``correlation`` (extractors and ``{var}``), ``sensitive`` (values never copied), ``writing``
(the YAML and its header), ``convert`` (the stages in order).
"""

from __future__ import annotations

from .convert import convert_har

__all__ = ["convert_har"]
