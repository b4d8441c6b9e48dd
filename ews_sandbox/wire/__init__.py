"""The wire: SOAP envelopes in and out, and the XML shapes of EWS types."""
