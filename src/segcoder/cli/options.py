"""Command-line options that train and pretrain share, defined once."""


def add_network_options(p):
    """Encoder shape and the basic optimisation settings (all default to None: keep the config value)."""
    p.add_argument("--depth", type=int, help="encoder downsamplings (4)")
    p.add_argument("--filters", type=int, help="filters of the first stage (32)")
    p.add_argument("--norm", help="batch (default), group or none")
    p.add_argument("--epochs", type=int, help="training epochs (30)")
    p.add_argument("--batch-size", type=int, help="crops per step (8)")
    p.add_argument("--steps-per-epoch", type=int, help="steps per epoch (default: about one pass over the images)")
    p.add_argument("--lr", type=float, help="Adam learning rate (1e-3)")


def add_image_scale_option(p, help_text):
    p.add_argument("--image-scale", type=float, help=help_text)


def add_loop_options(p):
    """Crop size, data threads, seed and time limit (None: keep the config value)."""
    p.add_argument("--crop-size", type=int, help="side of random training crops (256)")
    p.add_argument("--workers", type=int, help="data loading threads (2)")
    p.add_argument("--seed", type=int, help="random seed (0)")
    p.add_argument("--time-limit", type=float, help="stop training after this many minutes")
