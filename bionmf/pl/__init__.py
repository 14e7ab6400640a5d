"""bionmf.pl"""
