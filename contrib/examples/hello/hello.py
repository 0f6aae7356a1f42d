"""A first run: prints its arguments and writes a file to ./outputs."""
import argparse
import os

parser = argparse.ArgumentParser()
parser.add_argument("--greeting", default="hello")
parser.add_argument("--repeat", type=int, default=1)
parser.add_argument("--ratio", type=float, default=1.0)
parser.add_argument("--loud", default="False")
args = parser.parse_args()

run_id = os.environ.get("AZUREML_RUN_ID", "offline")
for i in range(args.repeat):
    text = f"{args.greeting} #{i} from run {run_id}"
    print(text.upper() if args.loud == "True" else text, flush=True)

os.makedirs("outputs", exist_ok=True)
with open("outputs/greeting.txt", "w") as out:
    out.write(f"{args.greeting} x{args.repeat} ratio={args.ratio}\n")
