"""One module per source format; each exposes ``add_arguments(parser)`` and ``convert(args)``.

``convert(args)`` returns the dataset dict; ``training.data.convert`` validates and writes it.
"""
# FORMAT name on the command line -> module
FORMATS = {
    'argoverse-hd': 'training.data.converters.argoverse_hd',
    'sun-seg': 'training.data.converters.sun_seg',
    'buv': 'training.data.converters.buv',
    'mot': 'training.data.converters.mot',
    'labelmap': 'training.data.converters.labelmap',
    'frames': 'training.data.converters.frames',
    'rosbag2': 'training.data.converters.rosbag2',
}
