"""singerid: tell which singer is singing, on the Hugging Face stack."""

__version__ = "0.1.0"
