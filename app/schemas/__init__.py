"""Request and response models, one module per concern; `common` holds what they share."""
