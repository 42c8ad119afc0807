"""Documents: the e-policy PDF with its verification QR code."""
