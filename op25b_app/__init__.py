"""op25b: Outbound Port 25 Blocking for ISP customer-edge OpenFlow switches."""

__version__ = "0.1.0"
