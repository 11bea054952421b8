"""loadkit: will your website survive its viral moment?"""

__version__ = "0.1.0"
