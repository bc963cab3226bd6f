//! Delivery: the report mail over SMTP (STARTTLS, implicit TLS or plain), or into a file.
