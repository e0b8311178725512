# @tags: quick, text
# Not executable: warden runs `.py` files with python3.
import sys

word = "warden"
assert word[::-1] == "nedraw", word[::-1]
assert word.capitalize() == "Warden"
print("strings behave")
sys.exit(0)
