"""`tbench aws`: the lambda target deployed on AWS, measured, its bill collected, torn down."""
