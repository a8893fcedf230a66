"""HTTP cogs: POST data to a server, and take data POSTed by clients.

===============  ==================  ===============================================
name             class               what it does
===============  ==================  ===============================================
``http.post``    HTTPPostDrain       POSTs JSON lines in batches (or one document per
                                     request), acknowledging only what got a 2xx
``http.listen``  HTTPListenSupply    takes POSTed JSON and JSON lines on a loopback
                                     port, answering 200 once the train has them
===============  ==================  ===============================================

Both run on the Escapement's asyncio loop with aiohttp, the ``http`` extra of
deadbeat-cogs-net (``pip install 'deadbeat-cogs-net[http]'``); without it,
importing this package raises an ImportError that says so.
"""

from ._json import BodyError
from ._listen import HTTPListenSupply
from ._post import HTTPPostDrain, Refused
from ._secrets import HeadersFileError

__all__ = ["BodyError", "HTTPListenSupply", "HTTPPostDrain", "HeadersFileError", "Refused"]
