/* The cheapest program that prints a line: the floor for one exec. */
#include <stdio.h>

int
main(void)
{
    puts("eyJ0eXAiOiJKV1QifQ.floor");
    return 0;
}
