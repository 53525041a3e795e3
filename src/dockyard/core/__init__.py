"""The pure core: models, services and the Protocols backends implement. No HTTP, no CLI."""
